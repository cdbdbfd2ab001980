import Foundation

/// Starting a helper process (a script that restarts a server, a server under test) with
/// `posix_spawn`: a clean signal state and no inherited descriptors but 0, 1 and 2.
///
/// Foundation's `Process` passes on the spawning thread's signal mask (libdispatch threads block
/// SIGTERM, so a redis-server started that way only dies with SIGKILL) and every descriptor
/// without FD_CLOEXEC (a daemonized server would keep our MySQL and Redis sockets, or a build
/// lock, open for as long as it runs), and its `waitUntilExit` hung here when the shell it
/// started left a daemon behind.
public enum ChildProcess {
    /// Where the child's stdout and stderr go (stdin is /dev/null).
    public enum Output: Sendable {
        /// Both to this file (created or truncated).
        case file(String)
        /// Both to our stderr (so a child cannot write into our stdout, which may carry data).
        case standardError
    }

    /// Starts `argv[0]` (looked up in PATH); nil with `errno` set when it cannot be started.
    public static func spawn(_ argv: [String], environment: [String: String], output: Output = .file("/dev/null")) -> pid_t? {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        switch output {
        case .file(let path):
            posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        case .standardError:
            posix_spawn_file_actions_adddup2(&actions, 2, 1)
        }
        for fd in openDescriptors() where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid = pid_t()
        let rc = posix_spawnp(&pid, argv[0], &actions, &attr, cArgs, cEnv)
        if rc != 0 {
            errno = rc
            return nil
        }
        return pid
    }

    /// Waits for `pid`; returns its exit status (128 + signal when killed).
    @discardableResult
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// `/bin/sh -c command`, waited for: its exit status, or -1 when it cannot be started.
    public static func shell(_ command: String, environment: [String: String] = ProcessInfo.processInfo.environment, output: Output = .file("/dev/null")) -> Int32 {
        guard let pid = spawn(["/bin/sh", "-c", command], environment: environment, output: output) else { return -1 }
        return wait(pid)
    }

    /// This process's open descriptors (from /proc/self/fd). One that is closed before the spawn
    /// is harmless: glibc ignores EBADF from a close action.
    static func openDescriptors() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
    }
}
