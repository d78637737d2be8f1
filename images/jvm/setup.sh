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

# Compiler servers (registry "prestartStage: compile"): a warm sandbox of
# java, scala or kotlin starts one before any job; it loads and warms its
# compiler in-process (the warm-up programs below, compiled into a
# directory it then removes, with its output shut), then reads the compile
# argv after argv[0] on fd 3 and compiles exactly as isobox-javac,
# isobox-scalac or isobox-kotlinc would, exiting with their status. Their
# class-data-sharing archives are dumped below; the jar's mtime is fixed
# because an archive is only valid for the class path's jars as they were
# when it was dumped.
srv='-XX:-UsePerfData --add-opens java.base/java.io=ALL-UNNAMED'
# kotlin-compiler.jar with the jars its manifest's Class-Path names, from
# its own directory as kotlinc's preloader takes them (the JDK's class
# loader would look beside the jar the symlink points to, without
# trove4j.jar).
kt_cp=$kt/kotlin-compiler.jar:$kt/annotations-13.0.jar:$kt/kotlin-stdlib.jar:$kt/kotlin-reflect.jar:$kt/kotlin-script-runtime.jar:$kt/trove4j.jar
mkdir -p $lib/warm $lib/servers
cat >$lib/servers/IsoboxServer.java <<'J'
import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** What the compiler servers (isobox-javac-server, isobox-scalac-server,
 * isobox-kotlinc-server) share: the prestart protocol of the guest
 * (registry "prestartStage: compile"). A server starts in a warm sandbox
 * before any job, warms its compiler with System.out and System.err gated
 * shut (its fds 1 and 2 are already the job's compile stage's) until the
 * warm-up is done or the job has come, then reads the compile argv after
 * argv[0] on fd 3 (NUL-terminated strings, up to EOF) and must compile as
 * the wrapper would, exiting with its status. Also the part of
 * isobox-main-class that java and scala have in common. */
final class IsoboxServer {
    /** Forwards to the real stream once opened; drops bytes before. */
    static final class Gate extends OutputStream {
        private final OutputStream to;
        private volatile boolean open;

        Gate(OutputStream to) { this.to = to; }
        void open() { open = true; }
        @Override public void write(int b) throws IOException {
            if (open) to.write(b);
        }
        @Override public void write(byte[] b, int off, int len) throws IOException {
            if (open) to.write(b, off, len);
        }
        @Override public void flush() throws IOException {
            if (open) to.flush();
        }
    }

    private static PrintStream out0;
    private static PrintStream err0;
    private static Gate outGate;
    private static Gate errGate;

    /** Shut System.out and System.err for the warm-up. Anything that keeps
     * the gated streams forwards to the real ones once the job starts. */
    static void gate() {
        out0 = System.out;
        err0 = System.err;
        outGate = new Gate(out0);
        errGate = new Gate(err0);
        Charset cs = Charset.defaultCharset();
        System.setOut(new PrintStream(outGate, true, cs));
        System.setErr(new PrintStream(errGate, true, cs));
    }

    /** The real streams back, before the job. */
    static void ungate() {
        System.out.flush();
        System.err.flush();
        outGate.open();
        errGate.open();
        System.setOut(out0);
        System.setErr(err0);
    }

    private static FileInputStream fd3;

    private static FileInputStream fd3() throws Exception {
        if (fd3 == null) {
            FileDescriptor fd = new FileDescriptor();
            Field f = FileDescriptor.class.getDeclaredField("fd");
            f.setAccessible(true);
            f.setInt(fd, 3);
            fd3 = new FileInputStream(fd);
        }
        return fd3;
    }

    /** Whether the job's argv is waiting on fd 3: the sandbox was claimed,
     * and more warm-up would only delay its compile. */
    static boolean claimed() {
        try {
            return fd3().available() > 0;
        } catch (Exception e) {
            return false;
        }
    }

    /** The argv on fd 3, decoded as the launcher decodes a command line. */
    static List<String> handoff() throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (FileInputStream in = fd3()) {
            // Not readAllBytes: on a pipe it fails with ESPIPE (it asks
            // for the position first).
            byte[] chunk = new byte[4096];
            for (int n; (n = in.read(chunk)) > 0; ) {
                buf.write(chunk, 0, n);
            }
        }
        byte[] b = buf.toByteArray();
        String enc = System.getProperty("sun.jnu.encoding");
        Charset cs = enc != null && Charset.isSupported(enc)
            ? Charset.forName(enc) : Charset.defaultCharset();
        List<String> args = new ArrayList<>();
        int s = 0;
        for (int i = 0; i < b.length; i++) {
            if (b[i] == 0) {
                args.add(new String(b, s, i - s, cs));
                s = i + 1;
            }
        }
        return args;
    }

    /** One warm-up compile, its output into dir. */
    interface WarmUp {
        void compile(Path dir) throws Throwable;
    }

    /** A compiler server's life up to its job: the streams shut, up to
     * runs warm-up compiles, the streams back, then the job's argv. */
    static List<String> serve(int runs, WarmUp w) throws Exception {
        gate();
        warm(runs, w);
        ungate();
        return handoff();
    }

    /** Up to runs warm-up compiles, each into a fresh directory removed
     * after it, stopping once the job has come. A failure leaves the
     * compiler colder, the job's compile unchanged. */
    static void warm(int runs, WarmUp w) {
        for (int i = 0; i < runs && !claimed(); i++) {
            Path d = null;
            try {
                d = Files.createTempDirectory("isobox-warm");
                w.compile(d);
            } catch (Throwable t) {
                // a colder compiler then
            }
            if (d != null) remove(d);
        }
    }

    /** rm -rf dir (a warm-up's output: the job must not see it). */
    static void remove(Path dir) {
        try (Stream<Path> w = Files.walk(dir)) {
            w.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.delete(p);
                } catch (IOException e) {
                    // left behind: nothing the job depends on
                }
            });
        } catch (IOException e) {
            // none
        }
    }

    // isobox-main-class LANG FILE, what java and scala share: perl on the
    // file's bytes, so Latin-1 here (one char a byte; \w, \s and word
    // boundaries ASCII as there).
    private static final Pattern PKG = Pattern.compile(
        "^\\s*package\\s+([\\w.]+)\\s*;?", Pattern.MULTILINE | Pattern.UNIX_LINES);

    /** The text of file as isobox-main-class searches it: its bytes as
     * Latin-1, comments and literals blanked; null when it cannot be read
     * (the perl then prints nothing). */
    static String mainSource(String file) {
        byte[] raw;
        try {
            raw = Files.readAllBytes(Paths.get(file));
        } catch (IOException | InvalidPathException | SecurityException x) {
            return null;
        }
        return strip(new String(raw, StandardCharsets.ISO_8859_1));
    }

    /** "PACKAGE." of the first package clause of s (mainSource's), or "". */
    static String mainPackage(String s) {
        Matcher m = PKG.matcher(s);
        return m.find() ? m.group(1) + "." : "";
    }

    /** The main class c into /tmp/classes/.isobox-main as the wrappers
     * write it: [ -z "$c" ] || printf '%s\n' "$c" >/tmp/classes/.isobox-main */
    static void recordMain(String c) throws IOException {
        if (!c.isEmpty()) {
            Files.write(Paths.get("/tmp/classes/.isobox-main"),
                (c + "\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The perl's s{(/\*.*?\*\/|//[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')}{ }gs
     * as a scanner (a regex would recurse per character of a long string
     * literal): at each position the first alternative that matches
     * becomes one space, else the character stays. */
    static String strip(String s) {
        StringBuilder o = new StringBuilder(s.length());
        int i = 0;
        int len = s.length();
        while (i < len) {
            int end = token(s, i);
            if (end > i) {
                o.append(' ');
                i = end;
            } else {
                o.append(s.charAt(i++));
            }
        }
        return o.toString();
    }

    /** The end of the comment or literal starting at i, or i when none. */
    private static int token(String s, int i) {
        int len = s.length();
        char c = s.charAt(i);
        if (c == '/' && i + 1 < len && s.charAt(i + 1) == '*') {
            int k = s.indexOf("*/", i + 2);
            if (k >= 0) return k + 2;
        }
        if (c == '/' && i + 1 < len && s.charAt(i + 1) == '/') {
            int k = s.indexOf('\n', i + 2);
            return k < 0 ? len : k;
        }
        if (c == '"' || c == '\'') {
            int k = i + 1;
            while (k < len) {
                char d = s.charAt(k);
                if (d == '\\') {
                    if (k + 1 >= len) return i;
                    k += 2;
                } else if (d == c) {
                    return k + 1;
                } else if (d == '\n') {
                    return i;
                } else {
                    k++;
                }
            }
        }
        return i;
    }

    static void exit(int code) {
        System.out.flush();
        System.err.flush();
        System.exit(code);
    }

    private IsoboxServer() {}
}
J
cat >$lib/servers/IsoboxJavacServer.java <<'J'
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** isobox-javac-server: java's compiler server (registry "prestartStage:
 * compile"). Warms javac in-process (up to WARM_RUNS compiles of the warm-up
 * program into a directory it then removes), reads "ENTRY [FILE...]" on
 * fd 3 and does exactly what isobox-javac ENTRY [FILE...] does: the main
 * class as isobox-main-class finds it (its perl is ported below and in
 * IsoboxServer), the copy of the entry named after a class whose name is
 * not the file's, /tmp/classes/.isobox-main, then javac's own entry point
 * with the same arguments, exiting with javac's status. */
public final class IsoboxJavacServer {
    static final String WARM_SRC = "/usr/lib/isobox/warm/Main.java";
    static final int WARM_RUNS = 2;

    public static void main(String[] a) throws Exception {
        PrintWriter nul = new PrintWriter(Writer.nullWriter());
        List<String> args = IsoboxServer.serve(WARM_RUNS,
            d -> com.sun.tools.javac.Main.compile(new String[] {"-encoding",
                "UTF-8", "-d", d.toString(), "-cp", d.toString(), WARM_SRC}, nul));
        IsoboxServer.exit(compile(args));
    }

    /** isobox-javac ENTRY [FILE...], step by step. */
    static int compile(List<String> args) throws IOException {
        Files.createDirectories(Paths.get("/tmp/classes"));
        String e = args.isEmpty() ? "" : args.get(0);
        String c = mainClass(e);
        String n = c.substring(c.lastIndexOf('.') + 1);
        String b = e.substring(e.lastIndexOf('/') + 1);
        String src = e;
        if (!n.isEmpty() && !(n + ".java").equals(b)) {
            String d = "/tmp/isobox-src/"
                + c.substring(0, c.length() - n.length()).replace('.', '/');
            try {
                Files.createDirectories(Paths.get(d));
                Files.copy(Paths.get(e), Paths.get(d + "/" + n + ".java"),
                    StandardCopyOption.REPLACE_EXISTING);
                src = d + "/" + n + ".java";
            } catch (IOException | InvalidPathException x) {
                // as the wrapper: the entry itself then
            }
        }
        IsoboxServer.recordMain(c);
        List<String> argv = new ArrayList<>(List.of("-encoding", "UTF-8",
            "-d", "/tmp/classes", "-cp", "/tmp/classes"));
        for (String f : args) {
            if (f.equals(e)) {
                argv.add(src);
            } else if (f.endsWith(".java")) {
                argv.add(f);
            }
        }
        return com.sun.tools.javac.Main.compile(argv.toArray(new String[0]));
    }

    // isobox-main-class java FILE after what IsoboxServer.mainSource does:
    // perl's \b is (?<![A-Za-z0-9_]) here (java's \b counts any Unicode
    // letter as a word character; perl, on bytes, only ASCII ones).
    private static final Pattern DECL = Pattern.compile(
        "([{}])|(?<![A-Za-z0-9_])(?:class|interface|enum|record)\\s+(\\w+)");

    /** The first top-level class of file (with its package), or "". */
    static String mainClass(String file) {
        String s = IsoboxServer.mainSource(file);
        if (s == null) return "";
        String pkg = IsoboxServer.mainPackage(s);
        Matcher m = DECL.matcher(s);
        int depth = 0;
        while (m.find()) {
            if (m.group(1) != null) {
                depth += m.group(1).equals("{") ? 1 : -1;
            } else if (depth == 0) {
                return pkg + m.group(2);
            }
        }
        return "";
    }

    private IsoboxJavacServer() {}
}
J
cat >$lib/servers/IsoboxScalacServer.java <<'J'
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** isobox-scalac-server: scala's compiler server (registry "prestartStage:
 * compile"), on servers.jar and isobox-scalac's class path, with its
 * -Dscala.usejavacp=true. Warms scalac in-process (up to WARM_RUNS
 * compiles of the warm-up program into a directory it then removes),
 * reads "ENTRY [FILE...]" on fd 3 and does exactly what isobox-scalac
 * ENTRY [FILE...] does: the object isobox-main-class finds (its perl is
 * ported below and in IsoboxServer), /tmp/classes/.isobox-main, then
 * scalac's main (scala.tools.nsc.Main) with the same arguments, which
 * exits with scalac's status. */
public final class IsoboxScalacServer {
    static final String WARM_SRC = "/usr/lib/isobox/warm/main.scala";
    static final int WARM_RUNS = 2;
    /** isobox-scalac's arguments before the files. */
    static final List<String> FLAGS = List.of("-usejavacp", "-encoding", "UTF-8");

    public static void main(String[] a) throws Exception {
        // -usejavacp puts java.class.path on the compile's class path:
        // isobox-scalac's, without servers.jar (our first entry), so that
        // a program sees no class of ours.
        String cp = System.getProperty("java.class.path");
        System.setProperty("java.class.path", cp.substring(cp.indexOf(':') + 1));
        // The warm-up is Main.process, the part of Main.main before its
        // sys.exit: its reporter writes to scala.Console.err, the gated
        // System.err when the warm-up first loads scala.Console (which
        // keeps it, to forward to the real one once the job starts).
        compile(IsoboxServer.serve(WARM_RUNS, d -> {
            List<String> argv = new ArrayList<>(FLAGS);
            argv.addAll(List.of("-d", d.toString(), "-cp", d.toString(), WARM_SRC));
            scala.tools.nsc.Main.process(argv.toArray(new String[0]));
        }));
    }

    /** isobox-scalac ENTRY [FILE...], step by step, up to scalac's
     * sys.exit (1 when its reporter has errors, else 0). */
    static void compile(List<String> args) throws IOException {
        Files.createDirectories(Paths.get("/tmp/classes"));
        IsoboxServer.recordMain(mainClass(args.isEmpty() ? "" : args.get(0)));
        List<String> argv = new ArrayList<>(FLAGS);
        argv.addAll(List.of("-d", "/tmp/classes", "-cp", "/tmp/classes"));
        for (String f : args) {
            if (f.endsWith(".scala") || f.endsWith(".java")) argv.add(f);
        }
        // What it throws (a compiler crash, which Main.process has
        // reported already) is uncaught, as in isobox-scalac's JVM.
        scala.tools.nsc.Main.main(argv.toArray(new String[0]));
    }

    // isobox-main-class scala FILE after what IsoboxServer.mainSource does:
    // an object extending App anywhere, else the last object declared
    // before the first "def main(". Perl's \b is (?<![A-Za-z0-9_]) or
    // (?![A-Za-z0-9_]) here (java's \b counts any Unicode letter as a word
    // character; perl, on bytes, only ASCII ones).
    private static final Pattern APP = Pattern.compile(
        "(?<![A-Za-z0-9_])object\\s+(\\w+)\\s+extends\\s+App(?![A-Za-z0-9_])");
    private static final Pattern MAIN = Pattern.compile("(?<![A-Za-z0-9_])def\\s+main\\s*\\(");
    private static final Pattern OBJECT = Pattern.compile("(?<![A-Za-z0-9_])object\\s+(\\w+)");

    /** The object of file that "scala" would run (with its package), or "". */
    static String mainClass(String file) {
        String s = IsoboxServer.mainSource(file);
        if (s == null) return "";
        String pkg = IsoboxServer.mainPackage(s);
        Matcher m = APP.matcher(s);
        if (m.find()) return pkg + m.group(1);
        m = MAIN.matcher(s);
        if (!m.find()) return "";
        // The perl's $before: the text up to the end of that match.
        Matcher o = OBJECT.matcher(s.substring(0, m.end()));
        String last = null;
        while (o.find()) last = o.group(1);
        return last == null ? "" : pkg + last;
    }

    private IsoboxScalacServer() {}
}
J
cat >$lib/servers/IsoboxKotlincServer.java <<'J'
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;

/** isobox-kotlinc-server: kotlin's compiler server (registry
 * "prestartStage: compile"), kotlin-compiler.jar on its class path. Warms
 * K2JVMCompiler in-process (up to WARM_RUNS compiles of the warm-up program into
 * a directory it then removes), reads "FILE..." on fd 3 and does exactly
 * what isobox-kotlinc FILE... does: K2JVMCompiler's main with the same
 * arguments, as kotlinc's preloader calls it (its status is main's
 * System.exit, or 0 when main returns). */
public final class IsoboxKotlincServer {
    static final String WARM_SRC = "/usr/lib/isobox/warm/main.kt";
    static final String STDLIB = "/usr/share/java/kotlin-stdlib.jar";
    static final String COMPILER = "org.jetbrains.kotlin.cli.jvm.K2JVMCompiler";
    static final int WARM_RUNS = 2;

    public static void main(String[] a) throws Throwable {
        List<String> args = IsoboxServer.serve(WARM_RUNS, warmUp());
        List<String> argv = new ArrayList<>(List.of("-no-stdlib", "-no-reflect",
            "-cp", STDLIB, "-d", "/tmp/app.jar"));
        for (String f : args) {
            if (f.endsWith(".kt")) argv.add(f);
        }
        Method main = Class.forName(COMPILER).getMethod("main", String[].class);
        try {
            main.invoke(null, (Object) argv.toArray(new String[0]));
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
        IsoboxServer.exit(0);
    }

    /** CLITool.doMain without its System.exit: the same system properties
     * first, then doMainNoExit (output goes to the gated System.err). */
    static IsoboxServer.WarmUp warmUp() {
        for (String p : new String[] {"java.awt.headless", "kotlin.colors.enabled"}) {
            if (System.getProperty(p) == null) System.setProperty(p, "true");
        }
        return d -> {
            Class<?> tool = Class.forName("org.jetbrains.kotlin.cli.common.CLITool");
            Object companion = tool.getField("Companion").get(null);
            Method run = companion.getClass().getMethod("doMainNoExit", tool,
                String[].class);
            Object compiler = Class.forName(COMPILER).getDeclaredConstructor()
                .newInstance();
            run.invoke(companion, compiler, (Object) new String[] {"-no-stdlib",
                "-no-reflect", "-cp", STDLIB, "-d", d.resolve("warm.jar").toString(),
                WARM_SRC});
        };
    }

    private IsoboxKotlincServer() {}
}
J
# (scalac's server calls scala.tools.nsc.Main directly: scala's jars on
# javac's class path.)
javac -cp $scala_cp -d $lib/servers $lib/servers/*.java
(cd $lib/servers && jar cf $lib/servers.jar *.class)
rm -rf $lib/servers
touch -d '2000-01-01 00:00:00 UTC' $lib/servers.jar
cat >/usr/local/bin/isobox-javac-server <<SH
#!/bin/sh
# isobox-javac-server - java's compiler server: "ENTRY [FILE...]" on fd 3,
# then as isobox-javac ENTRY [FILE...].
exec java $jvm -Xshare:auto -XX:SharedArchiveFile=$lib/javac-server.jsa $srv \\
	-cp $lib/servers.jar IsoboxJavacServer
SH
cat >/usr/local/bin/isobox-scalac-server <<SH
#!/bin/sh
# isobox-scalac-server - scala's compiler server: "ENTRY [FILE...]" on fd 3,
# then as isobox-scalac ENTRY [FILE...].
exec java $jvm -Xshare:auto -XX:SharedArchiveFile=$lib/scalac-server.jsa $srv \\
	-cp $lib/servers.jar:$scala_cp -Dscala.usejavacp=true IsoboxScalacServer
SH
cat >/usr/local/bin/isobox-kotlinc-server <<SH
#!/bin/sh
# isobox-kotlinc-server - kotlin's compiler server: "FILE..." on fd 3, then
# as isobox-kotlinc FILE....
exec java $jvm -Xshare:auto -XX:SharedArchiveFile=$lib/kotlinc-server.jsa $srv \\
	-cp $lib/servers.jar:$kt_cp IsoboxKotlincServer
SH
chmod 0755 /usr/local/bin/isobox-javac-server /usr/local/bin/isobox-scalac-server \
	/usr/local/bin/isobox-kotlinc-server

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
# The compiler servers' warm-up programs.
cp Main.java main.scala main.kt $lib/warm/
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
# The compiler servers: their archives, recorded while warming and serving
# one compile; then each compiles as its wrapper does (output, status and
# what it leaves), and the result runs. Their fd 3 is a pipe that gets the
# argv a second after they start, as a claim during the warm-up would
# (they stop warming once it is there).
rm -rf /tmp/classes /tmp/isobox-src /tmp/app.jar
{ sleep 1; printf 'Main.java\0'; } | java $jvm -XX:ArchiveClassesAtExit=$lib/javac-server.jsa \
	$srv -cp $lib/servers.jar IsoboxJavacServer 3<&0 </dev/null 2>&1 | grep -v '^\[' || true
{ sleep 1; printf 'main.scala\0'; } | java $jvm -XX:ArchiveClassesAtExit=$lib/scalac-server.jsa \
	$srv -cp $lib/servers.jar:$scala_cp -Dscala.usejavacp=true IsoboxScalacServer \
	3<&0 </dev/null 2>&1 | grep -v '^\[' || true
{ sleep 1; printf 'main.kt\0'; } | java $jvm -XX:ArchiveClassesAtExit=$lib/kotlinc-server.jsa \
	$srv -cp $lib/servers.jar:$kt_cp IsoboxKotlincServer 3<&0 </dev/null 2>&1 | grep -v '^\[' || true
test -s $lib/javac-server.jsa && test -s $lib/scalac-server.jsa && test -s $lib/kotlinc-server.jsa
# same WRAPPER SERVER FILE...: both give the same stdout, stderr, status
# and files under /tmp (and the same main class in .isobox-main).
same() {
	w=$1 s=$2
	shift 2
	rm -rf /tmp/classes /tmp/isobox-src /tmp/app.jar
	"$w" "$@" </dev/null >/tmp/o1 2>/tmp/e1 && r1=0 || r1=$?
	find /tmp/classes /tmp/isobox-src /tmp/app.jar -print 2>/dev/null | sort >/tmp/l1
	cat /tmp/classes/.isobox-main >>/tmp/l1 2>/dev/null || true
	rm -rf /tmp/classes /tmp/isobox-src /tmp/app.jar
	{ sleep 1; printf '%s\0' "$@"; } | "$s" 3<&0 </dev/null >/tmp/o2 2>/tmp/e2 && r2=0 || r2=$?
	find /tmp/classes /tmp/isobox-src /tmp/app.jar -print 2>/dev/null | sort >/tmp/l2
	cat /tmp/classes/.isobox-main >>/tmp/l2 2>/dev/null || true
	if [ "$r1" != "$r2" ] || ! cmp -s /tmp/o1 /tmp/o2 || ! cmp -s /tmp/e1 /tmp/e2 ||
		! cmp -s /tmp/l1 /tmp/l2; then
		echo "$s $*: status $r2, not $r1 as $w; stderr:" >&2
		diff /tmp/e1 /tmp/e2 >&2 || true
		diff /tmp/l1 /tmp/l2 >&2 || true
		return 1
	fi
}
printf 'public class Hello { public static void main(String[] a) { System.out.println("hi " + a[0]); } }\n' >Main.java
printf 'class Bad { void f() { int x = "s"; } }\n' >Bad.java
same isobox-javac isobox-javac-server Main.java
test "$(isobox-java Main.java x)" = "hi x"
same isobox-javac isobox-javac-server Bad.java
same isobox-javac isobox-javac-server Main.java Bad.java notes.txt
# scala: an object in a package after a commented-out one, with main; an
# object extending App; a feature warning; a type error; a class of
# servers.jar, which is not on the compile's class path; several files,
# a java file (scalac reads it for its types) and a text file among them.
printf 'package demo\n// object NotThis\nobject Hi {\n  def main(a: Array[String]): Unit = println("hi " + a.mkString(","))\n}\n' >hi.scala
same isobox-scalac isobox-scalac-server hi.scala
test "$(isobox-scala x y)" = "hi x,y"
same isobox-scalac isobox-scalac-server main.scala
test "$(isobox-scala x)" = "hi x"
printf 'object W extends App { println(List(1, 2) map (_ + 1) toString) }\n' >warn.scala
same isobox-scalac isobox-scalac-server warn.scala
printf 'object Bad {\n  def main(a: Array[String]): Unit = { val x: Int = "s" }\n}\n' >bad.scala
same isobox-scalac isobox-scalac-server bad.scala
printf 'object Leak extends App { println(classOf[IsoboxServer]) }\n' >leak.scala
same isobox-scalac isobox-scalac-server leak.scala
printf 'object Main extends App { println(Util.twice(21) + " " + new J().name) }\n' >two.scala
printf 'object Util { def twice(x: Int) = 2 * x }\n' >util.scala
printf 'public class J { public String name() { return "j"; } }\n' >J.java
same isobox-scalac isobox-scalac-server two.scala util.scala J.java notes.txt
same isobox-kotlinc isobox-kotlinc-server main.kt
test "$(isobox-kotlin a b a)" = '{a=2, b=1} 3'
printf 'fun main() { val x: Int = "s" }\n' >bad.kt
same isobox-kotlinc isobox-kotlinc-server bad.kt
same isobox-kotlinc isobox-kotlinc-server obj.kt main.kt
rm -f /tmp/o1 /tmp/o2 /tmp/e1 /tmp/e2 /tmp/l1 /tmp/l2
cd / && rm -rf "$t" /tmp/classes /tmp/app.jar /tmp/isobox-src
