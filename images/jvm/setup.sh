# Runs inside the image at build time (see images/README.md).
set -eu
lib=/usr/lib/isobox
mkdir -p "$lib"
# Flags of every JVM in the sandbox: one GC thread, the client compiler only
# (start-up matters more than peak speed for short programs). The heap is a
# share of the sandbox memory, which gVisor reports as the machine's.
jvm='-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:MaxRAMPercentage=60 -Xss8m'
scala_cp=/usr/share/java/scala-library.jar:/usr/share/java/scala-compiler.jar:/usr/share/java/scala-reflect.jar

# isobox-main-class LANG FILE - the class a single-file program runs, as
# "java File.java" and "scala File.scala" pick it: the first top-level class
# (java) or the object with a main method or extending App (scala), with
# its package; comments and string literals are skipped. Prints nothing when
# there is none.
cat >/usr/local/bin/isobox-main-class <<'SH'
#!/bin/sh
exec perl -0777 -e '
my ($lang, $file) = @ARGV;
open(my $fh, "<", $file) or exit 0;
local $_ = <$fh>;
s{(/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|'"'"'(?:\\.|[^'"'"'\\\n])*'"'"')}{ }gs;
my $pkg = /^\s*package\s+([\w.]+)\s*;?/m ? "$1." : "";
if ($lang eq "java") {
	my $d = 0;
	while (/([{}])|\b(?:class|interface|enum|record)\s+(\w+)/g) {
		if (defined $1) { $d += $1 eq "{" ? 1 : -1; next }
		if ($d == 0) { print "$pkg$2\n"; last }
	}
} elsif (/\bobject\s+(\w+)\s+extends\s+App\b/) {
	print "$pkg$1\n";
} elsif (/\bdef\s+main\s*\(/g) {
	my $before = substr($_, 0, pos($_));
	my @o = $before =~ /\bobject\s+(\w+)/g;
	print "$pkg$o[-1]\n" if @o;
}' "$@"
SH

cat >/usr/local/bin/isobox-javac <<SH
#!/bin/sh
# isobox-javac ENTRY [FILE...] - compile the .java files among ENTRY and FILE
# into /tmp/classes with the class-data-sharing archive made for javac at
# image build time. The program is the entry's first top-level class,
# whatever the file is called (as "java File.java" runs it): when its name
# is not the file's, the entry is compiled from a copy named after the
# class (javac wants a public class in a file of its name). The class name
# goes to /tmp/classes/.isobox-main for isobox-java.
mkdir -p /tmp/classes
e=\$1
c=\$(isobox-main-class java "\$e")
n=\${c##*.}
b=\${e##*/}
src=\$e
if [ -n "\$n" ] && [ "\$n.java" != "\$b" ]; then
	d=/tmp/isobox-src/\$(printf %s "\${c%\$n}" | tr . /)
	mkdir -p "\$d" && cp "\$e" "\$d/\$n.java" && src=\$d/\$n.java
fi
[ -z "\$c" ] || printf '%s\n' "\$c" >/tmp/classes/.isobox-main
for f; do
	case \$f in
	"\$e") set -- "\$@" "\$src" ;;
	*.java) set -- "\$@" "\$f" ;;
	esac
	shift
done
exec javac $(printf -- '-J%s ' $jvm)-J-XX:SharedArchiveFile=$lib/javac.jsa -J-Xshare:auto \\
	-encoding UTF-8 -d /tmp/classes -cp /tmp/classes "\$@"
SH
cat >/usr/local/bin/isobox-java <<SH
#!/bin/sh
# isobox-java ENTRY [ARG...] - run the class isobox-javac found in ENTRY, or
# else the class named by its path (app/Main.java -> app.Main).
c=\${1%.java}
c=\$(printf %s "\$c" | tr / .)
[ -s /tmp/classes/.isobox-main ] && c=\$(cat /tmp/classes/.isobox-main)
shift
exec java $jvm -Xshare:auto -cp /tmp/classes "\$c" "\$@"
SH
cat >/usr/local/bin/isobox-scalac <<SH
#!/bin/sh
# isobox-scalac ENTRY [FILE...] - compile the .scala (and .java) files into
# /tmp/classes with the class-data-sharing archive made for scalac; the
# entry's object with a main method (or extending App) is the program,
# recorded in /tmp/classes/.isobox-main.
mkdir -p /tmp/classes
c=\$(isobox-main-class scala "\$1")
[ -z "\$c" ] || printf '%s\n' "\$c" >/tmp/classes/.isobox-main
for f; do case \$f in *.scala|*.java) set -- "\$@" "\$f" ;; esac; shift; done
exec java $jvm -Xshare:auto -XX:SharedArchiveFile=$lib/scalac.jsa \\
	-cp $scala_cp -Dscala.usejavacp=true scala.tools.nsc.Main \\
	-usejavacp -encoding UTF-8 -d /tmp/classes -cp /tmp/classes "\$@"
SH
cat >/usr/local/bin/isobox-scala <<SH
#!/bin/sh
# isobox-scala [ARG...] - run the object isobox-scalac found (else Main).
c=Main
[ -s /tmp/classes/.isobox-main ] && c=\$(cat /tmp/classes/.isobox-main)
exec java $jvm -Xshare:auto -cp /usr/share/java/scala-library.jar:/tmp/classes "\$c" "\$@"
SH

# Kotlin 1.3: kotlinc-jvm through its preloader, writing a jar whose
# manifest names the class of the main function (kotlinc finds it, in any
# file); IsoboxJarMain runs that class. Groovy 2.4 and Clojure 1.11: their
# main classes on the JVM flags above. Each has a class-data-sharing
# archive recorded below.
kt=/usr/share/kotlin/kotlinc/lib
kt_stdlib=/usr/share/java/kotlin-stdlib.jar
groovy_cp=$(ls /usr/share/groovy/lib/*.jar | tr '\n' : | sed 's/:$//')
clj_cp=/usr/share/java/clojure-1.11.jar
cat >/usr/local/bin/isobox-kotlinc <<SH
#!/bin/sh
# isobox-kotlinc FILE... - compile the .kt files among FILE into /tmp/app.jar.
for f; do case \$f in *.kt) set -- "\$@" "\$f" ;; esac; shift; done
exec java $jvm -Xshare:auto -XX:SharedArchiveFile=$lib/kotlinc.jsa \\
	-cp $kt/kotlin-preloader.jar org.jetbrains.kotlin.preloading.Preloader \\
	-cp $kt/kotlin-compiler.jar org.jetbrains.kotlin.cli.jvm.K2JVMCompiler \\
	-no-stdlib -no-reflect -cp $kt_stdlib -d /tmp/app.jar "\$@"
SH
cat >/usr/local/bin/isobox-kotlin <<SH
#!/bin/sh
# isobox-kotlin [ARG...] - run the main class named by /tmp/app.jar's manifest.
exec java $jvm -Xshare:auto -cp /tmp/app.jar:$kt_stdlib:$lib/launcher IsoboxJarMain /tmp/app.jar "\$@"
SH
cat >/usr/local/bin/isobox-groovy <<SH
#!/bin/sh
# isobox-groovy SCRIPT [ARG...] - groovy SCRIPT ARG... (classes of other
# files are found from the current directory, as with groovy).
exec java $jvm -Xshare:auto -XX:SharedArchiveFile=$lib/groovy.jsa \\
	-Dgroovy.home=/usr/share/groovy -cp $groovy_cp:. groovy.ui.GroovyMain "\$@"
SH
cat >/usr/local/bin/isobox-clojure <<SH
#!/bin/sh
# isobox-clojure SCRIPT [ARG...] - clojure SCRIPT ARG...
exec java $jvm -Xshare:auto -XX:SharedArchiveFile=$lib/clojure.jsa \\
	-cp $clj_cp clojure.main "\$@"
SH
chmod 0755 /usr/local/bin/isobox-main-class /usr/local/bin/isobox-kotlinc \
	/usr/local/bin/isobox-kotlin /usr/local/bin/isobox-groovy /usr/local/bin/isobox-clojure
mkdir -p $lib/launcher
cat >$lib/launcher/IsoboxJarMain.java <<'J'
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/** IsoboxJarMain JAR ARG... - run the Main-Class of JAR (on the class path),
 * or else the one class of JAR with a public static main(String[]) (kotlinc
 * names only top-level main functions in the manifest, not an object's
 * @JvmStatic main). */
public class IsoboxJarMain {
    public static void main(String[] args) throws Throwable {
        List<String> mains = new ArrayList<>();
        try (JarFile jar = new JarFile(args[0])) {
            String m = jar.getManifest() == null ? null
                : jar.getManifest().getMainAttributes().getValue("Main-Class");
            if (m != null) {
                mains.add(m);
            } else {
                for (JarEntry e : Collections.list(jar.entries())) {
                    String n = e.getName();
                    if (!n.endsWith(".class") || n.startsWith("META-INF/")) continue;
                    String c = n.substring(0, n.length() - 6).replace('/', '.');
                    try {
                        Method mm = Class.forName(c, false, IsoboxJarMain.class.getClassLoader())
                            .getMethod("main", String[].class);
                        if (Modifier.isStatic(mm.getModifiers())) mains.add(c);
                    } catch (NoSuchMethodException | LinkageError ignored) {
                    }
                }
            }
        }
        if (mains.size() != 1) {
            System.err.println(mains.isEmpty() ? "error: no main function found"
                : "error: several main functions: " + mains);
            System.exit(1);
        }
        try {
            Class.forName(mains.get(0)).getMethod("main", String[].class)
                .invoke(null, (Object) Arrays.copyOfRange(args, 1, args.length));
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
J
javac -d $lib/launcher $lib/launcher/IsoboxJarMain.java
rm $lib/launcher/IsoboxJarMain.java

chmod 0755 /usr/local/bin/isobox-javac /usr/local/bin/isobox-java \
	/usr/local/bin/isobox-scalac /usr/local/bin/isobox-scala

# Dynamic class-data-sharing archives of the two compilers, recorded while
# compiling a small program (cuts javac's start from ~1.3 s to ~0.7 s and
# scalac's from ~6 s to ~4 s under gVisor).
t=$(mktemp -d) && cd "$t"
cat >Main.java <<'J'
import java.util.*;
public class Main {
    public static void main(String[] args) throws Exception {
        List<String> l = new ArrayList<>(Arrays.asList(args));
        Map<String, Integer> m = new HashMap<>();
        for (String s : l) m.merge(s, 1, Integer::sum);
        System.out.println(String.format("%s %d", m, l.stream().mapToInt(String::length).sum()));
    }
}
J
cat >main.scala <<'S'
object Main {
  def main(args: Array[String]): Unit = {
    val m = args.groupBy(identity).map { case (k, v) => k -> v.length }
    println(s"$m ${args.map(_.length).sum}")
  }
}
S
mkdir -p /tmp/classes
javac $(printf -- '-J%s ' $jvm)-J-XX:ArchiveClassesAtExit=$lib/javac.jsa \
	-encoding UTF-8 -d /tmp/classes Main.java 2>&1 | grep -v '^\[' || true
java $jvm -XX:ArchiveClassesAtExit=$lib/scalac.jsa -cp $scala_cp \
	-Dscala.usejavacp=true scala.tools.nsc.Main -usejavacp -encoding UTF-8 \
	-d /tmp/classes main.scala 2>&1 | grep -v '^\[' || true
cat >main.kt <<'K'
fun main(args: Array<String>) {
    val m = args.groupBy { it }.mapValues { it.value.size }
    println("$m ${args.sumBy { it.length }}")
}
K
cat >main.groovy <<'G'
def m = args.countBy { it }
println "${m} ${args*.length().sum() ?: 0}"
G
cat >main.clj <<'C'
(println (frequencies *command-line-args*) (reduce + (map count *command-line-args*)))
C
java $jvm -XX:ArchiveClassesAtExit=$lib/kotlinc.jsa \
	-cp $kt/kotlin-preloader.jar org.jetbrains.kotlin.preloading.Preloader \
	-cp $kt/kotlin-compiler.jar org.jetbrains.kotlin.cli.jvm.K2JVMCompiler \
	-no-stdlib -no-reflect -cp $kt_stdlib -d /tmp/warm.jar main.kt 2>&1 | grep -v '^\[' || true
java $jvm -XX:ArchiveClassesAtExit=$lib/groovy.jsa -Dgroovy.home=/usr/share/groovy \
	-cp $groovy_cp groovy.ui.GroovyMain main.groovy a 2>&1 | grep -v '^\[' || true
java $jvm -XX:ArchiveClassesAtExit=$lib/clojure.jsa -cp $clj_cp clojure.main main.clj a 2>&1 | grep -v '^\[' || true
rm -f /tmp/warm.jar
test -s $lib/javac.jsa && test -s $lib/scalac.jsa && test -s $lib/kotlinc.jsa
test -s $lib/groovy.jsa && test -s $lib/clojure.jsa
rm -rf /tmp/classes
# The wrappers work and use the archives.
isobox-javac Main.java && test "$(isobox-java Main.java a b a)" = "{a=2, b=1} 3"
rm -rf /tmp/classes
isobox-scalac main.scala && isobox-scala x | grep -q 'Map(x -> 1) 1'
# A public class whose name is not the file's runs (as "java File.java").
rm -rf /tmp/classes
printf 'public class Hello { public static void main(String[] a) { System.out.println("hi " + a[0]); } }\n' >Main.java
isobox-javac Main.java && test "$(isobox-java Main.java x)" = "hi x"
rm -rf /tmp/classes /tmp/isobox-src
printf 'object Hello extends App { println("hi " + args(0)) }\n' >main.scala
isobox-scalac main.scala && test "$(isobox-scala x)" = "hi x"
rm -rf /tmp/classes
isobox-kotlinc main.kt && isobox-kotlin a b a | grep -q '{a=2, b=1} 3'
printf 'object App {\n    @JvmStatic fun main(args: Array<String>) = println("obj")\n}\n' >obj.kt
isobox-kotlinc obj.kt && test "$(isobox-kotlin)" = obj
test "$(isobox-groovy main.groovy a b a)" = "[a:2, b:1] 3"
test "$(isobox-clojure main.clj a b a)" = '{a 2, b 1} 3'
cd / && rm -rf "$t" /tmp/classes /tmp/app.jar /tmp/isobox-src
