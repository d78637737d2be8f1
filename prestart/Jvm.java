// Jvm.java - the warm groovy and clojure bootstraps (registry/languages.yaml,
// their "prestart"): run by java's source launcher with the JVM flags and
// class path of isobox-groovy or isobox-clojure (images/jvm/setup.sh) and
// one argument, "groovy" or "clojure". It waits on fd 3 for the run argv
// after the wrapper's name (NUL-terminated each), then calls the main class
// with it in the main thread, as the cold "java ... MAIN SCRIPT ARGS" would:
// groovy.ui.GroovyMain, or clojure.main.
//
// The class path is given as -Djava.class.path, not -cp, and
// -Dapplication.home is set: the launcher then gives javac no class path and
// javac takes "." rather than java.class.path, so it opens no jar of the
// language's (javac's file manager is never closed: they would stay open).
// This class names no class of the class path (reflection only).
//
// What it undoes of the launcher, before the language's classes load: the
// thread's context class loader (the application's again), the
// sun.java.command (the cold one, once the argv is known),
// jdk.module.main(.class), jdk.launcher.sourcefile, application.home and
// user.timezone properties. What a program can still tell: the launcher's
// and this class's frames in a stack it walks itself (Thread.getStackTrace,
// an exception's unsanitized trace, groovy.full.stacktrace, clojure's full
// report file), one more descriptor (the socket NIO keeps for closing
// channels, made when javac first read a file: a cold JVM makes it at the
// program's first NIO file use), the JVM's input arguments (RuntimeMXBean),
// identity hash codes, loaded classes and memory (javac ran in this JVM),
// /proc/self/cmdline.
//
// groovy: in package groovy.isobox so that Groovy's own stack trace
// sanitizer drops its frame ("groovy."); a class test drops the launcher's
// frames below it (its reflective call, com.sun.tools.javac.launcher).
// Groovy's classes load only once the argv is known.
//
// clojure: clojure.main's class is initialized (which loads clojure.core)
// and its namespace required ahead of the job, in that order, as the cold
// clojure.main.main does first; its main then finds clojure.main loaded.
// Nothing else of Clojure runs before the job, so the state a script finds
// (namespaces, vars, ids) is the cold one.
package groovy.isobox;

import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Field;
import java.nio.charset.Charset;
import java.util.ArrayList;
import java.util.List;
import java.util.TimeZone;
import sun.misc.Unsafe;

public class Prestart {
	public static void main(String[] mode) throws Throwable {
		boolean clojure = mode.length == 1 && mode[0].equals("clojure");
		String main = clojure ? "clojure.main" : "groovy.ui.GroovyMain";

		if (mode.length != 1 || !(clojure || mode[0].equals("groovy"))) {
			throw new IllegalArgumentException("usage: Jvm.java groovy|clojure");
		}
		System.clearProperty("jdk.module.main");
		System.clearProperty("jdk.module.main.class");
		System.clearProperty("jdk.launcher.sourcefile");
		System.clearProperty("application.home");
		// javac asked for the default time zone, which sets this: forget
		// both, so a program's first use finds and records it again.
		TimeZone.setDefault(null);
		System.clearProperty("user.timezone");
		ClassLoader app = ClassLoader.getSystemClassLoader();
		Thread.currentThread().setContextClassLoader(app);
		if (clojure) {
			// What clojure.main.main(args) does before it reads args:
			// REQUIRE.invoke(CLOJURE_MAIN).
			Class.forName(main, true, app);
			Object require = Class.forName("clojure.lang.RT", true, app)
				.getMethod("var", String.class, String.class).invoke(null, "clojure.core", "require");
			Object sym = Class.forName("clojure.lang.Symbol", true, app)
				.getMethod("intern", String.class).invoke(null, main);
			Class.forName("clojure.lang.IFn", true, app).getMethod("invoke", Object.class)
				.invoke(require, sym);
		}

		String[] argv = split(handoff());
		StringBuilder cmd = new StringBuilder(main);

		for (String a : argv) {
			cmd.append(' ').append(a);
		}
		System.setProperty("sun.java.command", cmd.toString());
		if (!clojure) {
			Object test = Class.forName("org.codehaus.groovy.runtime.MethodClosure", true, app)
				.getConstructor(Object.class, String.class).newInstance(Prestart.class, "below");
			Class.forName("org.codehaus.groovy.runtime.StackTraceUtils", true, app)
				.getMethod("addClassTest", Class.forName("groovy.lang.Closure", true, app))
				.invoke(null, test);
		}
		// A method handle, not Method.invoke: its frames are hidden from
		// stack traces, so the main class's main is right above this one.
		MethodHandles.publicLookup().findStatic(Class.forName(main, true, app),
			"main", MethodType.methodType(void.class, String[].class)).invokeExact(argv);
	}

	// Groovy's sanitizer asks of each frame's class, top first, whether to
	// keep it. Below this class's frame (which "groovy." drops) come only
	// the launcher's reflective call and the launcher: drop those, and
	// leave every other frame to Groovy's own rule (null).
	private static final ThreadLocal<Boolean> BELOW = ThreadLocal.withInitial(() -> false);

	public static Boolean below(String c) {
		if (c.startsWith("com.sun.tools.javac.launcher.")) {
			BELOW.set(false);
			return Boolean.FALSE;
		}
		if (c.equals(Prestart.class.getName())) {
			BELOW.set(true);
			return null;
		}
		if (BELOW.get() && (c.startsWith("jdk.internal.reflect.") ||
				    c.startsWith("java.lang.reflect."))) {
			return Boolean.FALSE;
		}
		BELOW.set(false);
		return null;
	}

	// A stream on descriptor n, which closing it closes: FileDescriptor has
	// no public constructor from a number, so its field is set through
	// Unsafe (jdk.unsupported, open without flags).
	private static FileInputStream stream(int n) throws Exception {
		Field uf = Unsafe.class.getDeclaredField("theUnsafe");
		uf.setAccessible(true);
		Unsafe u = (Unsafe) uf.get(null);
		FileDescriptor fd = new FileDescriptor();
		u.putInt(fd, u.objectFieldOffset(FileDescriptor.class.getDeclaredField("fd")), n);
		return new FileInputStream(fd);
	}

	// Read fd 3 to its end and close it. /proc/self/fd/3 is the guest's
	// (root's) pipe, which the user may not open again.
	private static byte[] handoff() throws Exception {
		ByteArrayOutputStream b = new ByteArrayOutputStream();
		try (FileInputStream in = stream(3)) {
			in.transferTo(b);
		}
		return b.toByteArray();
	}

	// The argv's strings, decoded as the JVM decodes its own arguments.
	private static String[] split(byte[] h) {
		Charset cs = Charset.forName(System.getProperty("sun.jnu.encoding"));
		List<String> l = new ArrayList<>();
		int s = 0;

		for (int i = 0; i < h.length; i++) {
			if (h[i] == 0) {
				l.add(new String(h, s, i - s, cs));
				s = i + 1;
			}
		}
		return l.toArray(new String[0]);
	}
}
