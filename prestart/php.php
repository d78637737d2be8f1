<?php
// php.php - the warm php bootstrap (registry/languages.yaml, php's
// "prestart"): php runs it as its main script, then main.php as its
// auto_append_file, a top-level script of its own as "php main.php" would.

// Wait on fd 3 for the run argv after "php" (NUL-terminated each). FFI,
// not streams: a stream would take a resource id, and objects are freed in
// reverse so the program's first object is #1 again.
$_f = FFI::cdef('long read(int, void *, size_t); int open(const char *, int);'
    . ' int close(int); int execvp(const char *, char **);'
    . ' typedef struct { uint32_t rc, ti; uint64_t h; size_t len; char val[17]; } zs;'
    . ' int zend_alter_ini_entry_chars(zs *, const char *, size_t, int, int);'
    . ' typedef struct F { int fl; char *p[11]; void *m; struct F *next; int fd; } F;'
    . ' F *_IO_list_all;');
$_b = FFI::new('char[65536]');
$_r = '';
while (($_n = $_f->read(3, $_b, 65536)) > 0) {
    $_r .= FFI::string($_b, $_n);
}
$_f->close(3);
$_a = explode("\0", $_r);
array_pop($_a);
// php keeps its main script (this file, the newest stdio FILE) open to the
// end, where "php main.php" has main.php open instead: main.php is open
// at the same descriptor once php appends it. Close this one, and leave
// the FILE a descriptor of -1 so php's fclose at the end closes nothing of
// the program's.
$_d = $_f->_IO_list_all->fd;
if ($_d > 2 && str_ends_with((string)@readlink("/proc/self/fd/$_d"), '/prestart/php.php')) {
    $_f->close($_d);
    $_f->_IO_list_all->fd = -1;
}
// In process only for the entry the catalogue appends (main.php), when
// this file is no included file (its long relative path is not expanded)
// and the entry is readable and not "#!": php execs itself otherwise.
$_d = ($_a[0] ?? '') === 'main.php' && !get_included_files() ? $_f->open('main.php', 0) : -1;
$_n = $_d >= 0 ? $_f->read($_d, $_b, 2) : -1;
if ($_d >= 0) {
    $_f->close($_d);
}
if ($_n < 0 || ($_n == 2 && FFI::string($_b, 2) === '#!')) {
    $_v = FFI::new('char *[' . (count($_a) + 2) . ']');
    foreach (array_merge(['php'], $_a) as $_i => $_x) {
        $_v[$_i] = FFI::new('char[' . (strlen($_x) + 1) . ']', false);
        FFI::memcpy($_v[$_i], $_x . "\0", strlen($_x) + 1);
    }
    $_f->execvp('php', $_v);
    exit(127);
}
// What "php main.php ARGS" registers; the request time is now.
$argv = $_SERVER['argv'] = $_a;
$argc = $_SERVER['argc'] = count($_a);
$_SERVER['PHP_SELF'] = $_SERVER['SCRIPT_NAME'] = $_a[0];
$_SERVER['SCRIPT_FILENAME'] = $_SERVER['PATH_TRANSLATED'] = $_a[0];
$_SERVER['REQUEST_TIME_FLOAT'] = microtime(true);
$_SERVER['REQUEST_TIME'] = (int)$_SERVER['REQUEST_TIME_FLOAT'];
// php copied auto_append_file before running this file: its local value
// goes back to "" (an interned zend_string "auto_append_file"; 4, 16:
// ZEND_INI_SYSTEM, ZEND_INI_STAGE_RUNTIME), as php main.php has it.
$_z = $_f->new('zs');
$_z->ti = 0x46;
$_z->len = 16;
FFI::memcpy($_z->val, "auto_append_file\0", 17);
$_f->zend_alter_ini_entry_chars(FFI::addr($_z), '', 0, 4, 16);
clearstatcache(true);
error_clear_last();
unset($_z, $_b, $_f, $_r, $_n, $_d, $_a);
