import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// One mounted target, on a directory of the run's temporary base
/// directory: a kernel mount (tmpfs, the kernel's ext2 on a loop device) or
/// a daemon we start with -f as our child so we know its pid (vfsmount,
/// fuse2fs). Image-based targets keep their image on a tmpfs of their own.
/// Everything is unmounted at the end, after a failure, and on Ctrl-C /
/// SIGTERM / a crash (see `Emergency`).
final class BenchMount {
  let target: BenchTarget
  let path: String
  /// The tmpfs holding the image file, and the image.
  private(set) var imageDir: String?
  private(set) var image: String?
  private(set) var process: Process?
  private var mounted = false
  private(set) var logPath: String?
  /// /proc/vfs/requests of this mount (vfsmount targets only).
  var probe: RequestProbe?

  var pid: Int32? { process?.processIdentifier }
  var name: String { target.name }

  private init(target: BenchTarget, path: String) {
    self.target = target
    self.path = path
  }

  /// Mounts `target` at `base/NAME`. Image targets get `base/NAME-img`, a
  /// tmpfs, holding a copy of `seedImage` or a fresh sparse image of
  /// `imageBytes` made by mkfs.ext2.
  static func mount(
    _ target: BenchTarget, base: String, vfsmount: String, imageBytes: Int64,
    seedImage: String? = nil
  ) throws -> BenchMount {
    let m = BenchMount(target: target, path: base + "/" + target.name)
    do {
      try m.mountAll(base: base, vfsmount: vfsmount, imageBytes: imageBytes, seedImage: seedImage)
    } catch {
      m.unmount()
      throw error
    }
    if target.isVfsmount { m.probe = RequestProbe(mount: m.path) }
    return m
  }

  private func mountAll(base: String, vfsmount: String, imageBytes: Int64, seedImage: String?)
    throws
  {
    if target.usesImage {
      let dir = base + "/" + target.name + "-img"
      try BenchMount.mountTmpfs(at: dir, source: "vfsbench-image")
      imageDir = dir
      let file = dir + "/ext2.img"
      if let seedImage {
        try runTool(["cp", "--sparse=always", seedImage, file])
      } else {
        try BenchMount.makeExt2Image(file, bytes: imageBytes)
      }
      image = file
    }
    try BenchMount.makeDir(path)
    Emergency.register(mountPoint: path)
    let log = "\(base)/\(target.name).log"
    switch target.mounter {
    case .tmpfs:
      guard Glibc.mount("vfsbench-tmpfs", path, "tmpfs", 0, "mode=1777") == 0 else {
        throw BenchFailure("cannot mount tmpfs on \(path): \(errnoText()) (root needed)")
      }
      mounted = true
    case .kernelExt2:
      let file = image ?? ""
      try runTool(["mount", "-t", "ext2", "-o", target.readOnly ? "loop,ro" : "loop", file, path])
      mounted = true
      if !target.readOnly { chmod(path, 0o1777) }
    case .fuse2fs:
      var args = [image ?? "", path, "-f"]
      if target.readOnly { args += ["-o", "ro"] }
      try startDaemon(binary: BenchMount.which("fuse2fs") ?? "fuse2fs", args, log: log)
    case .vfsmount(let options):
      var args = ["-f"]
      if !options.isEmpty { args += ["-o", options] }
      try startDaemon(binary: vfsmount, args + [path], log: log)
    case .vfsmountExt2(let options):
      var args = ["-f", "-t", "ext2"]
      if !options.isEmpty { args += ["-o", options] }
      try startDaemon(binary: vfsmount, args + [image ?? "", path], log: log)
    }
  }

  static func makeDir(_ path: String) throws {
    guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
      throw BenchFailure("mkdir \(path): \(errnoText())")
    }
  }

  /// A tmpfs of our own at `path` (mode 1777, default size: half the RAM).
  static func mountTmpfs(at path: String, source: String) throws {
    try makeDir(path)
    Emergency.register(mountPoint: path)
    guard Glibc.mount(source, path, "tmpfs", 0, "mode=1777") == 0 else {
      throw BenchFailure("cannot mount tmpfs on \(path): \(errnoText()) (root needed)")
    }
  }

  /// A sparse file of `bytes`, then `mkfs.ext2 -q -F` on it.
  static func makeExt2Image(_ file: String, bytes: Int64) throws {
    let fd = open(file, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw BenchFailure("create \(file): \(errnoText())") }
    let ok = ftruncate(fd, off_t(bytes)) == 0
    close(fd)
    guard ok else { throw BenchFailure("ftruncate \(file): \(errnoText())") }
    try runTool(["mkfs.ext2", "-q", "-F", file])
  }

  /// The first `name` on $PATH (plus the sbin directories mkfs lives in).
  static func which(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
    where access("\(dir)/\(name)", X_OK) == 0 {
      return "\(dir)/\(name)"
    }
    return nil
  }

  /// Starts a FUSE daemon in the foreground as our child (its output in
  /// `log`) and waits until the mount shows in /proc/self/mountinfo.
  private func startDaemon(binary: String, _ args: [String], log: String) throws {
    guard access(binary, X_OK) == 0 else {
      throw BenchFailure(
        "no \(target.name) daemon at \(binary): build it (swift build) or install it (--vfsmount PATH for vfsmount)"
      )
    }
    _ = creat(log, 0o644)
    logPath = log
    Emergency.register(file: log)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = args
    if let handle = FileHandle(forWritingAtPath: log) {
      process.standardOutput = handle
      process.standardError = handle
    }
    process.standardInput = FileHandle.nullDevice
    do {
      try process.run()
    } catch {
      throw BenchFailure("cannot start \(binary): \(error)")
    }
    Emergency.register(child: process.processIdentifier)
    self.process = process
    let deadline = nowNanos() + 30_000_000_000
    while nowNanos() < deadline {
      if BenchMount.mountInfo(path) != nil {
        mounted = true
        return
      }
      if !process.isRunning {
        throw BenchFailure(
          "\(target.name): \((binary as NSString).lastPathComponent) exited (status \(process.terminationStatus)) before mounting: \(lastLogLines(3))"
        )
      }
      usleep(20_000)
    }
    throw BenchFailure("\(target.name) did not mount \(path) within 30 s")
  }

  /// The end of the daemon's log, one line.
  func lastLogLines(_ n: Int) -> String {
    guard let logPath, let text = readFile(logPath) else { return "" }
    return text.split(separator: "\n").suffix(n).joined(separator: " | ")
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

  /// Unmounts (a daemon: waits for it to exit, and if the mount is stuck
  /// aborts its FUSE connection and kills it), then the image's tmpfs
  /// unless `keepImage` (the seed image is copied after its file system
  /// wrote everything back; a later `unmount()` removes it).
  func unmount(keepImage: Bool = false) {
    defer {
      rmdir(path)
      if let logPath { unlink(logPath) }
      logPath = nil
      if !keepImage, let imageDir {
        if umount2(imageDir, 0) != 0 { umount2(imageDir, Int32(MNT_DETACH)) }
        rmdir(imageDir)
        self.imageDir = nil
      }
    }
    guard let process else {
      if mounted, umount2(path, 0) != 0 { umount2(path, Int32(MNT_DETACH)) }
      mounted = false
      return
    }
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
    Emergency.unregister(child: process.processIdentifier)
    self.process = nil
  }

  /// `echo 1 > /sys/fs/fuse/connections/N/abort` for the mount at `path`.
  static func abortConnection(_ path: String) {
    guard let info = mountInfo(path), let minor = info.device.split(separator: ":").last else {
      return
    }
    let dir = "/sys/fs/fuse/connections"
    if access("\(dir)/\(minor)", F_OK) != 0 {
      _ = Glibc.mount("fusectl", dir, "fusectl", 0, nil)
    }
    writeFile("\(dir)/\(minor)/abort", "1\n")
  }

  /// Whether the daemon is still alive (a crash mid-workload is reported).
  var alive: Bool { process?.isRunning ?? true }
}

/// Runs a tool (mount, mkfs.ext2, cp) to the end; throws with its output
/// when it fails.
func runTool(_ argv: [String], timeout: Double = 600) throws {
  guard let first = argv.first, let binary = BenchMount.which(first) else {
    throw BenchFailure("\(argv.first ?? "?") not found (install it: scripts/bench does)")
  }
  let outPath = "/tmp/vfsbench-tool-\(getpid()).out"
  _ = creat(outPath, 0o600)
  defer { unlink(outPath) }
  let p = Process()
  p.executableURL = URL(fileURLWithPath: binary)
  p.arguments = Array(argv.dropFirst())
  let out = FileHandle(forWritingAtPath: outPath)
  p.standardOutput = out
  p.standardError = out
  p.standardInput = FileHandle.nullDevice
  try p.run()
  Emergency.toolPid = p.processIdentifier
  defer { Emergency.toolPid = 0 }
  let deadline = nowNanos() + UInt64(timeout * 1e9)
  while p.isRunning, nowNanos() < deadline { usleep(10_000) }
  if p.isRunning {
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
    throw BenchFailure("\(argv.joined(separator: " ")) did not finish in \(Int(timeout)) s")
  }
  p.waitUntilExit()
  guard p.terminationStatus == 0 else {
    let text = readFile(outPath)?.split(separator: "\n").suffix(3).joined(separator: " | ") ?? ""
    throw BenchFailure(
      "\(argv.joined(separator: " ")): status \(p.terminationStatus): \(text)")
  }
}

/// What a signal handler may do without Swift: the mount points, files and
/// children's pids in plain C memory, and only async-signal-safe calls
/// (umount2, kill, rmdir, unlink, _exit) in the handler.
enum Emergency {
  static let capacity = 64
  nonisolated(unsafe) static var baseDir: UnsafeMutablePointer<CChar>?
  nonisolated(unsafe) static let slots = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    .allocate(capacity: capacity)
  nonisolated(unsafe) static var used = 0
  /// Daemon logs inside `baseDir`, removed so that rmdir works.
  nonisolated(unsafe) static let files = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    .allocate(capacity: capacity)
  nonisolated(unsafe) static var filesUsed = 0
  nonisolated(unsafe) static let children = UnsafeMutablePointer<pid_t>.allocate(
    capacity: capacity)
  nonisolated(unsafe) static var childrenUsed = 0

  static func register(mountPoint: String) {
    guard used < capacity else { return }
    slots[used] = strdup(mountPoint)
    used += 1
  }

  static func register(file: String) {
    guard filesUsed < capacity else { return }
    files[filesUsed] = strdup(file)
    filesUsed += 1
  }

  static func register(child: pid_t) {
    guard childrenUsed < capacity else { return }
    children[childrenUsed] = child
    childrenUsed += 1
  }

  /// The tool running now (fio, mount, cp), killed first on Ctrl-C so it
  /// neither holds a mount busy nor writes under a detached mount point.
  nonisolated(unsafe) static var toolPid: pid_t = 0

  /// A child that exited is forgotten (its pid may be reused).
  static func unregister(child: pid_t) {
    for i in 0..<childrenUsed where children[i] == child { children[i] = 0 }
  }

  /// Ctrl-C, SIGTERM, SIGHUP: unmount, stop the daemons, exit 130. A crash
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

  /// Newest mounts first: a target's mount before the tmpfs holding its image.
  static func cleanupInHandler() {
    if toolPid > 0 { kill(toolPid, SIGKILL) }
    var i = used - 1
    while i >= 0 {
      if let p = slots[i] { umount2(p, Int32(MNT_DETACH)) }
      i -= 1
    }
    for i in 0..<childrenUsed where children[i] > 0 { kill(children[i], SIGTERM) }
    for i in 0..<filesUsed { if let f = files[i] { unlink(f) } }
    i = used - 1
    while i >= 0 {
      if let p = slots[i] { rmdir(p) }
      i -= 1
    }
    if let baseDir { rmdir(baseDir) }
  }
}
