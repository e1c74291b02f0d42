import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The two file systems under test, on directories of one temporary base
/// directory: SwiftVFS (the vfsmount binary, run with -f as our child so we
/// know its pid) and a kernel tmpfs. Both are unmounted at the end, after a
/// failure, and on Ctrl-C / SIGTERM / a crash (see `Emergency`).
final class BenchMount {
  enum Kind: String { case vfs, tmpfs }

  let kind: Kind
  let path: String
  private(set) var process: Process?
  private var mounted = false
  let logPath: String?

  var pid: Int32? { process?.processIdentifier }

  private init(kind: Kind, path: String, process: Process?, logPath: String?) {
    self.kind = kind
    self.path = path
    self.process = process
    self.logPath = logPath
  }

  /// Mounts a kernel tmpfs at `path` (mode 1777, default size and inodes).
  static func tmpfs(at path: String) throws -> BenchMount {
    guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
      throw BenchFailure("mkdir \(path): \(errnoText())")
    }
    Emergency.register(mountPoint: path)
    guard mount("vfsbench-tmpfs", path, "tmpfs", 0, "mode=1777") == 0 else {
      throw BenchFailure("cannot mount tmpfs on \(path): \(errnoText()) (root needed)")
    }
    let m = BenchMount(kind: .tmpfs, path: path, process: nil, logPath: nil)
    m.mounted = true
    return m
  }

  /// Starts `vfsmount -f [-o options] path` and waits until the mount shows
  /// in /proc/self/mountinfo.
  static func vfs(binary: String, options: String, at path: String, logPath: String) throws
    -> BenchMount
  {
    guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
      throw BenchFailure("mkdir \(path): \(errnoText())")
    }
    guard access(binary, X_OK) == 0 else {
      throw BenchFailure(
        "no vfsmount at \(binary): build it (swift build -c release) or pass --vfsmount PATH")
    }
    Emergency.register(mountPoint: path)
    _ = creat(logPath, 0o644)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    var args = ["-f"]
    if !options.isEmpty { args += ["-o", options] }
    args.append(path)
    process.arguments = args
    if let log = FileHandle(forWritingAtPath: logPath) {
      process.standardOutput = log
      process.standardError = log
    }
    process.standardInput = FileHandle.nullDevice
    do {
      try process.run()
    } catch {
      throw BenchFailure("cannot start \(binary): \(error)")
    }
    Emergency.childPid = process.processIdentifier
    let m = BenchMount(kind: .vfs, path: path, process: process, logPath: logPath)
    let deadline = nowNanos() + 30_000_000_000
    while nowNanos() < deadline {
      if BenchMount.mountInfo(path) != nil {
        m.mounted = true
        return m
      }
      if !process.isRunning {
        rmdir(path)
        let log = readFile(logPath)?.split(separator: "\n").suffix(5).joined(separator: "\n") ?? ""
        throw BenchFailure(
          "vfsmount exited (status \(process.terminationStatus)) before mounting:\n\(log)")
      }
      usleep(20_000)
    }
    m.unmount()
    throw BenchFailure("vfsmount did not mount \(path) within 30 s")
  }

  /// The mountinfo fields (major:minor, fstype) of the mount at `path`.
  static func mountInfo(_ path: String) -> (device: String, fsType: String)? {
    guard let text = readFile("/proc/self/mountinfo", limit: 16 << 20) else { return nil }
    for line in text.split(separator: "\n") {
      let f = line.split(separator: " ")
      guard f.count > 6, String(f[4]) == path, let dash = f.firstIndex(of: "-"),
        dash + 1 < f.count
      else { continue }
      return (String(f[2]), String(f[dash + 1]))
    }
    return nil
  }

  /// Unmounts; for vfsmount also waits for the daemon to exit, and if the
  /// mount is stuck aborts its FUSE connection (fusectl) and kills it.
  func unmount() {
    defer { rmdir(path) }
    if kind == .tmpfs {
      if mounted, umount2(path, 0) != 0 { umount2(path, Int32(MNT_DETACH)) }
      mounted = false
      return
    }
    guard let process else { return }
    if BenchMount.mountInfo(path) != nil, umount2(path, 0) != 0 {
      BenchMount.abortConnection(path)
      umount2(path, Int32(MNT_DETACH))
    }
    mounted = false
    var deadline = nowNanos() + 10_000_000_000
    while process.isRunning, nowNanos() < deadline { usleep(10_000) }
    if process.isRunning {
      kill(process.processIdentifier, SIGTERM)
      deadline = nowNanos() + 3_000_000_000
      while process.isRunning, nowNanos() < deadline { usleep(10_000) }
    }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    Emergency.childPid = 0
    self.process = nil
  }

  /// `echo 1 > /sys/fs/fuse/connections/N/abort` for the mount at `path`.
  static func abortConnection(_ path: String) {
    guard let info = mountInfo(path), let minor = info.device.split(separator: ":").last else {
      return
    }
    let dir = "/sys/fs/fuse/connections"
    if access("\(dir)/\(minor)", F_OK) != 0 {
      _ = mount("fusectl", dir, "fusectl", 0, nil)
    }
    writeFile("\(dir)/\(minor)/abort", "1\n")
  }

  /// Whether the daemon is still alive (a crash mid-workload is reported).
  var alive: Bool { process?.isRunning ?? true }
}

/// What a signal handler may do without Swift: the mount points and the
/// child's pid in plain C memory, and only async-signal-safe calls
/// (umount2, kill, rmdir, _exit) in the handler.
enum Emergency {
  nonisolated(unsafe) static var childPid: pid_t = 0
  nonisolated(unsafe) static var baseDir: UnsafeMutablePointer<CChar>?
  /// The daemon's log inside `baseDir`, removed so that rmdir works.
  nonisolated(unsafe) static var logFile: UnsafeMutablePointer<CChar>?
  nonisolated(unsafe) static let slots = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    .allocate(capacity: 8)
  nonisolated(unsafe) static var used = 0

  static func register(mountPoint: String) {
    guard used < 8 else { return }
    slots[used] = strdup(mountPoint)
    used += 1
  }

  /// Ctrl-C, SIGTERM, SIGHUP: unmount, stop the daemon, exit 130. A crash
  /// (SIGSEGV, SIGILL from a Swift trap, SIGABRT, SIGBUS, SIGTRAP): the same,
  /// then the default action.
  static func installHandlers() {
    for sig in [SIGINT, SIGTERM, SIGHUP] {
      signal(sig) { _ in
        Emergency.cleanupInHandler()
        _exit(130)
      }
    }
    for sig in [SIGSEGV, SIGILL, SIGABRT, SIGBUS, SIGTRAP] {
      signal(sig) { sig in
        Emergency.cleanupInHandler()
        signal(sig, SIG_DFL)
        raise(sig)
      }
    }
  }

  static func cleanupInHandler() {
    for i in 0..<used {
      if let p = slots[i] { umount2(p, Int32(MNT_DETACH)) }
    }
    if childPid > 0 { kill(childPid, SIGTERM) }
    for i in 0..<used {
      if let p = slots[i] { rmdir(p) }
    }
    if let logFile { unlink(logFile) }
    if let baseDir { rmdir(baseDir) }
  }
}
