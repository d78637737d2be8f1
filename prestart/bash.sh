# bash.sh - the warm bash bootstrap (registry/languages.yaml, bash's
# "prestart"): the prestarted "bash main.sh" reads this file as its BASH_ENV
# before it opens its script, so it waits here and then runs main.sh as
# its own script, exactly as a fresh "bash main.sh" would.
#
# It waits on fd 3 for the run argv after "bash" (NUL-terminated each).
# bash sets $0 and its own BASH_ARGV/BASH_ARGC from the argv it was started
# with and neither can be set again, so this only serves a job without
# arguments whose entry is the script bash was started with; any other job
# gets a fresh bash (exec), its environment the one bash was started with,
# less BASH_ENV. Everything made here is removed: bash then sees its
# variables, functions, options, $_, $? and SECONDS as at its start.
__isobox_s=$_
__isobox_a=()
while IFS= read -r -d '' __isobox_x <&3; do
	__isobox_a+=("$__isobox_x")
done
exec 3<&-
if [[ ${#__isobox_a[@]} -ne 1 || ${__isobox_a[0]} != "$0" ]]; then
	__isobox_e=()
	mapfile -d '' __isobox_v </proc/self/environ
	for __isobox_x in "${__isobox_v[@]}"; do
		[[ $__isobox_x == BASH_ENV=* ]] || __isobox_e+=("$__isobox_x")
	done
	exec env -i "${__isobox_e[@]}" bash "${__isobox_a[@]}"
	exit 127
fi
SECONDS=0
unset -v BASH_ENV __isobox_a __isobox_x
# The last simple command's last word becomes $_: the value bash had.
__isobox_f() {
	unset -v __isobox_s
	unset -f __isobox_f
}
__isobox_f "$__isobox_s"
