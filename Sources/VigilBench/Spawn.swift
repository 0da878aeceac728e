import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a program and waits for it with `waitpid` on its pid.
///
/// Foundation's `Process.waitUntilExit()` learns of a child's end through its SIGCHLD
/// monitoring; twice a bench waited forever on a `bash` that had already exited (a zombie no one
/// reaped) after the script started a broker in the background. This waits on the pid itself.
enum Spawn {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `arguments` (the first found on `PATH` unless it holds a `/`) with `environment`
    /// added to this process's, standard input and error on /dev/null and standard output into
    /// `outputPath`; returns its exit status (128 + the signal that ended it).
    static func run(_ arguments: [String], environment: [String: String] = [:], outputPath: String) throws -> Int32 {
        guard let program = arguments.first else { throw Failure(description: "no program to run") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, program, &actions, nil, argv, envp)
        guard rc == 0 else { throw Failure(description: "cannot run \(program): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw Failure(description: "waiting for \(program): \(String(cString: strerror(errno)))") }
        }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}
