// Groovy.java - the warm groovy bootstrap (registry/languages.yaml,
// groovy's "prestart"): run by java's source launcher with the JVM flags and
// class path of isobox-groovy (images/jvm/setup.sh), it waits on fd 3 for
// the run argv after "isobox-groovy" (NUL-terminated each), then calls
// groovy.ui.GroovyMain.main with it in the main thread, as the cold
// "java ... groovy.ui.GroovyMain SCRIPT ARGS" would.
//
// The class path is given as -Djava.class.path, not -cp, and
// -Dapplication.home is set: the launcher then gives javac no class path and
// javac takes "." rather than java.class.path, so it opens no jar of
// Groovy's (javac's file manager is never closed: they would stay open).
// This class names no class of the class path (reflection only).
//
// In package groovy.isobox so that Groovy's own stack trace sanitizer drops
// its frame ("groovy."); a class test drops the launcher's frames below it
// (its reflective call, com.sun.tools.javac.launcher). What it undoes of the
// launcher: the thread's context class loader (the application's again),
// the sun.java.command, jdk.module.main(.class), jdk.launcher.sourcefile,
// application.home and user.timezone properties. What a program can still
// tell: the launcher's and this class's frames in a stack it walks itself
// (Thread.getStackTrace, an exception's unsanitized trace,
// groovy.full.stacktrace), one more descriptor (the socket NIO keeps for
// closing channels, made when javac first read a file: a cold JVM makes it
// at the program's first NIO file use), the JVM's input arguments
// (RuntimeMXBean), identity hash codes, loaded classes and memory (javac
// ran in this JVM), /proc/self/cmdline.
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
	public static void main(String[] unused) throws Throwable {
		String[] argv = split(handoff());
		StringBuilder cmd = new StringBuilder("groovy.ui.GroovyMain");

		for (String a : argv) {
			cmd.append(' ').append(a);
		}
		System.setProperty("sun.java.command", cmd.toString());
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
		Object test = Class.forName("org.codehaus.groovy.runtime.MethodClosure", true, app)
			.getConstructor(Object.class, String.class).newInstance(Prestart.class, "below");
		Class.forName("org.codehaus.groovy.runtime.StackTraceUtils", true, app)
			.getMethod("addClassTest", Class.forName("groovy.lang.Closure", true, app))
			.invoke(null, test);
		// A method handle, not Method.invoke: its frames are hidden from
		// stack traces, so GroovyMain.main is right above this one.
		MethodHandles.publicLookup().findStatic(Class.forName("groovy.ui.GroovyMain", true, app),
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
