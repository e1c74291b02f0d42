import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// What a finished child process left: its exit status (or 128 + signal) and its output.
struct RunResult: CustomStringConvertible {
  var status: Int32
  var stdout: String
  var stderr: String
  var timedOut = false

  var ok: Bool { status == 0 }
  /// stdout without its final newline.
  var out: String { stdout.hasSuffix("\n") ? String(stdout.dropLast()) : stdout }
  var description: String {
    "status \(status)\(timedOut ? " (timed out)" : "") stdout \(stdout.debugDescription) stderr \(stderr.debugDescription)"
  }
}

/// Errors the support code throws.
struct SupportError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// A child started with posix_spawn, its stdout and stderr going to files (no pipes
/// that could fill up, no SIGCHLD handler in the test process).
final class Child {
  let pid: pid_t
  let stdoutPath: String
  let stderrPath: String
  private(set) var exitStatus: Int32?

  init(
    _ executable: String, _ arguments: [String], stdin: String? = nil, cwd: String? = nil,
    environment: [String: String]? = nil
  ) throws {
    let dir = NSTemporaryDirectory()
    let tag = "\(getpid())-\(UUID().uuidString.prefix(8))"
    stdoutPath = (dir as NSString).appendingPathComponent("child-\(tag).out")
    stderrPath = (dir as NSString).appendingPathComponent("child-\(tag).err")
    var inputPath = "/dev/null"
    if let stdin {
      inputPath = (dir as NSString).appendingPathComponent("child-\(tag).in")
      try stdin.write(toFile: inputPath, atomically: false, encoding: .utf8)
    }
    defer { if inputPath != "/dev/null" { unlink(inputPath) } }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

    var env = ProcessInfo.processInfo.environment
    if let environment { env.merge(environment) { _, new in new } }
    // posix_spawn_file_actions_addchdir_np is not visible to Swift: let sh change directory.
    var executable = executable
    var arguments = arguments
    if let cwd {
      arguments = ["-c", "cd \"$0\" && exec \"$@\"", cwd, executable] + arguments
      executable = "/bin/sh"
    }
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      for p in argv + envp { free(p) }
    }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, nil, argv, envp)
    guard rc == 0 else {
      unlink(stdoutPath)
      unlink(stderrPath)
      throw SupportError("posix_spawn \(executable): \(String(cString: strerror(rc)))")
    }
    self.pid = pid
  }

  deinit {
    _ = wait(timeout: 0)
    unlink(stdoutPath)
    unlink(stderrPath)
  }

  /// Reaps the child if it has exited within `timeout` seconds; its status, or nil.
  @discardableResult
  func wait(timeout: Double) -> Int32? {
    if let exitStatus { return exitStatus }
    let deadline = Date().addingTimeInterval(timeout)
    while true {
      var status: Int32 = 0
      let r = waitpid(pid, &status, WNOHANG)
      if r == pid {
        let sig = status & 0x7f
        exitStatus = sig == 0 ? (status >> 8) & 0xff : 128 + sig
        return exitStatus
      }
      if r < 0 && errno != EINTR {
        exitStatus = -1
        return exitStatus
      }
      if Date() >= deadline { return nil }
      usleep(10_000)
    }
  }

  var hasExited: Bool { wait(timeout: 0) != nil }

  func signal(_ sig: Int32) {
    if !hasExited { kill(pid, sig) }
  }

  var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
  var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
}

/// Runs a program to completion (killed after `timeout` seconds) and captures its output.
/// Inside an XCTestCase, whose `run()` hides this name, call `MountTests.run` or `runCommand`.
@discardableResult
func run(
  _ executable: String, _ arguments: [String] = [], stdin: String? = nil, cwd: String? = nil,
  environment: [String: String]? = nil, timeout: Double = 60
) -> RunResult {
  let path = executable.contains("/") ? executable : which(executable) ?? executable
  do {
    let child = try Child(path, arguments, stdin: stdin, cwd: cwd, environment: environment)
    var timedOut = false
    var status = child.wait(timeout: timeout)
    if status == nil {
      timedOut = true
      child.signal(SIGKILL)
      status = child.wait(timeout: 5)
    }
    return RunResult(
      status: status ?? -1, stdout: child.stdout, stderr: child.stderr, timedOut: timedOut)
  } catch {
    return RunResult(status: 127, stdout: "", stderr: "\(error)")
  }
}

/// `run`, under a name XCTestCase's `run()` does not hide.
@discardableResult
func runCommand(
  _ executable: String, _ arguments: [String] = [], stdin: String? = nil, cwd: String? = nil,
  environment: [String: String]? = nil, timeout: Double = 60
) -> RunResult {
  run(executable, arguments, stdin: stdin, cwd: cwd, environment: environment, timeout: timeout)
}

/// Runs a /bin/sh script (with `set -e` off: the script decides) in `cwd`.
@discardableResult
func sh(
  _ script: String, cwd: String? = nil, environment: [String: String]? = nil, timeout: Double = 60
)
  -> RunResult
{
  runCommand("/bin/sh", ["-c", script], cwd: cwd, environment: environment, timeout: timeout)
}

/// The first executable named `name` on PATH.
func which(_ name: String) -> String? {
  let path =
    ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
  for dir in path.split(separator: ":") {
    let candidate = "\(dir)/\(name)"
    if access(candidate, X_OK) == 0 { return candidate }
  }
  for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where access("\(dir)/\(name)", X_OK) == 0 {
    return "\(dir)/\(name)"
  }
  return nil
}

/// Quotes a string for /bin/sh.
func shq(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// MOUNT/proc/vfs/connection as key -> value: the first word of each line,
/// and the rest of it ("protocol" -> "7.45", "flags" -> "ASYNC_READ ...").
func fuseConnection(_ mount: String) throws -> [String: String] {
  let text = try String(contentsOfFile: mount + "/proc/vfs/connection", encoding: .utf8)
  var fields: [String: String] = [:]
  for line in text.split(separator: "\n") {
    let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
    fields[parts[0]] = parts.count > 1 ? parts[1] : ""
  }
  return fields
}
