import CFuse
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// One FUSE mount: the libfuse session, its kernel connection, and the loop
/// that serves requests. The mount's life: `init` mounts, `run` serves until
/// the file system is unmounted (or a signal ends the loop), `close` unmounts
/// what is still mounted and frees the session.
///
/// Ownership: the libfuse session and the bridge's retain belong to this
/// object only once `init` returns; a failing `init` frees what it made
/// itself, and `close` (or `deinit`) frees them exactly once, so a failed
/// mount, a second `close`, or a `close` without `run` are all safe.
public final class FuseSession {
  /// Why a mount failed: a one-line message naming the mount point, and the
  /// errno when one is known (ENOENT, ENOTDIR ...).
  public struct Failure: Error, CustomStringConvertible {
    /// The message: the mount point, the failing step and its errno.
    public let description: String
    /// The errno behind the failure, if the failing call gave one.
    public let errno: Errno?
    /// The libfuse call that failed (`fuse_session_new`, `fuse_session_mount`),
    /// or "" for the checks made before libfuse is asked.
    public let call: String

    /// A failure with its message and, if known, its errno and libfuse call.
    public init(description: String, errno: Errno? = nil, call: String = "") {
      self.description = description
      self.errno = errno
      self.call = call
    }
  }

  /// nil once closed (or never made): nothing may touch it then.
  private var session: OpaquePointer?
  private let bridge: Unmanaged<FuseBridge>
  /// The directory the file system is mounted on.
  public let mountPoint: String

  /// Mounts `bridge` at `mountPoint`. `kernelOptions` are the `-o` options
  /// for the kernel mount itself (fsname, default_permissions, allow_other, ro).
  /// The VFS must have its root mounted (else EINVAL), and
  /// the mount point must be a directory: a missing one is ENOENT and
  /// anything else ENOTDIR, reported here before libfuse is asked (the
  /// kernel would take a FUSE mount on a regular file, whose root then
  /// answers nothing but EIO).
  public init(bridge: FuseBridge, mountPoint: String, kernelOptions: [String]) throws(Failure) {
    self.mountPoint = mountPoint
    guard bridge.vfs.rootSuperBlock != nil else {
      // Every request would name a root that is not there.
      throw Failure(
        description:
          "cannot mount on \(mountPoint): EINVAL (the VFS has no root: mount a file system at \"/\" first)",
        errno: .EINVAL)
    }
    try FuseSession.checkMountPoint(mountPoint)
    self.bridge = Unmanaged.passRetained(bridge)
    bridge.asksAllowIdmap =
      bridge.options.allowIdmap && kernelOptions.contains("default_permissions")
    // memfs allocates many 4 KiB pages from several threads: let malloc grow
    // its heaps 64 MiB at a time rather than one mprotect() every few pages.
    // Few arenas: memory freed by one thread then serves the others.
    _ = mallopt(M_TOP_PAD, 64 << 20)
    _ = mallopt(M_TRIM_THRESHOLD, 128 << 20)
    _ = mallopt(M_ARENA_MAX, 2)
    var argv: [UnsafeMutablePointer<CChar>?] = [strdup("vfsmount")]
    if !kernelOptions.isEmpty {
      argv.append(strdup("-o"))
      argv.append(strdup(kernelOptions.joined(separator: ",")))
    }
    defer { for arg in argv { free(arg) } }
    var ops = FuseBridge.operationsTable()
    let userdata = self.bridge.toOpaque()
    let made = argv.withUnsafeMutableBufferPointer { buffer -> OpaquePointer? in
      var args = fuse_args(argc: Int32(buffer.count), argv: buffer.baseAddress, allocated: 0)
      defer { fuse_opt_free_args(&args) }
      return cfuse_session_new(
        &args, &ops, MemoryLayout<fuse_lowlevel_ops>.size, userdata)
    }
    guard let made else {
      self.bridge.release()
      throw Failure(
        description: "cannot create a FUSE session (bad options?)", errno: .EINVAL,
        call: "fuse_session_new")
    }
    bridge.kernel = .libfuse(made)
    bridge.notifier.attach(.libfuse(made))
    Glibc.errno = 0
    guard fuse_session_mount(made, mountPoint) == 0 else {
      // Freed here, and `session` stays nil: deinit has nothing to free.
      let code = Glibc.errno != 0 ? Glibc.errno : EIO
      bridge.notifier.detach()
      bridge.kernel = nil
      fuse_session_destroy(made)
      self.bridge.release()
      throw Failure(
        description: "cannot mount on \(mountPoint) (is /dev/fuse usable, and are you root?)",
        errno: Errno(code), call: "fuse_session_mount")
    }
    session = made
    bridge.readaheadControl = FuseSession.readaheadControl(of: mountPoint)
  }

  /// Like the kernel's do_new_mount() path walk plus fuse's own rule: the
  /// mount point exists (ENOENT) and is a directory (ENOTDIR). A `/dev/fd/N`
  /// mount point is a /dev/fuse descriptor passed by fusermount3: not checked.
  static func checkMountPoint(_ path: String) throws(Failure) {
    if path.hasPrefix("/dev/fd/") { return }
    var st = stat()
    guard stat(path, &st) == 0 else {
      let error = Errno(Glibc.errno)
      throw Failure(description: "cannot mount on \(path): \(error) (stat)", errno: error)
    }
    guard st.st_mode & S_IFMT == S_IFDIR else {
      throw Failure(
        description: "cannot mount on \(path): ENOTDIR (the mount point is not a directory)",
        errno: .ENOTDIR)
    }
  }

  /// /sys/class/bdi/MAJ:MIN/read_ahead_kb of the new mount, found in
  /// /proc/self/mountinfo (a stat of the mount point would ask this very
  /// file system, whose loop is not running yet).
  static func readaheadControl(of mountPoint: String) -> String? {
    MountTable.entries().last { $0.mountPoint == mountPoint }
      .map { "/sys/class/bdi/\($0.device)/read_ahead_kb" }
  }

  /// Ctrl-C, SIGTERM and SIGHUP end the loop, so `run` returns and the mount
  /// is unmounted cleanly. Like libfuse's handlers, the handler marks the
  /// session exited; it also wakes a watcher thread that interrupts every
  /// request asleep in a wait queue (a blocked device or trace read), since
  /// libfuse can only cancel workers that wait for the kernel, and would
  /// otherwise wait forever to join one asleep in a driver. Only for a
  /// process that owns its signals (the CLI), never in a test process.
  public func installSignalHandlers() {
    guard let session else { return }
    SignalWatch.session = session
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { return }
    SignalWatch.readEnd = fds[0]
    SignalWatch.writeEnd = fds[1]
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in
      // Async-signal-safe: a flag store and a write(2).
      if let session = SignalWatch.session { fuse_session_exit(session) }
      if SignalWatch.stopFD >= 0 {
        var stop: UInt8 = 1
        _ = write(SignalWatch.stopFD, &stop, 1)
      }
      var byte: UInt8 = 1
      _ = write(SignalWatch.writeEnd, &byte, 1)
    }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0  // no SA_RESTART: the loop's wait returns EINTR
    for signal in [SIGINT, SIGTERM, SIGHUP] { sigaction(signal, &action, nil) }
    Glibc.signal(SIGPIPE, SIG_IGN)
    var thread = pthread_t()
    pthread_create(
      &thread, nil,
      { _ in
        var byte: UInt8 = 0
        while read(SignalWatch.readEnd, &byte, 1) < 0 && errno == EINTR {}
        // Keep waking sleepers until the process ends: new ones may come
        // before every worker has seen the exit.
        while true {
          Interruption.interruptAll()
          usleep(20_000)
        }
      }, nil)
    pthread_detach(thread)
  }

  /// Detaches into the background unless `foreground`; the mount is already
  /// up, so errors were reported in the foreground.
  public func daemonize(foreground: Bool) {
    guard session != nil else { return }
    fuse_daemonize(foreground ? 1 : 0)
  }

  /// How requests are served.
  public enum Loop: Sendable {
    /// One thread serves everything; a request that would sleep gets EAGAIN.
    /// (On the native engine: one thread on one cloned descriptor.)
    case single
    /// One thread serves what cannot sleep (all of memfs) at once, and hands
    /// requests on files that may sleep (devices, /proc) to worker threads
    /// (`FuseWorkers` explains why). The default. (On the native engine:
    /// one such thread per CPU, each on its own cloned descriptor.)
    case threaded
    /// libfuse's multi-threaded loop: every request on a pool thread
    /// (libfuse's engine only).
    case libfuseMultithreaded
  }

  /// Serves requests until unmount or a signal: on the native engine, or
  /// on libfuse's for `.libfuseMultithreaded`
  /// (`run(loop:engine:maxThreads:maxIdleThreads:transport:)`).
  public func run(loop: Loop, maxThreads: Int = 16, maxIdleThreads: Int = 8) -> Int32 {
    run(
      loop: loop, engine: loop == .libfuseMultithreaded ? .libfuse : .native,
      maxThreads: maxThreads, maxIdleThreads: maxIdleThreads)
  }

  /// Who reads the requests from /dev/fuse.
  public enum Engine: String, Sendable {
    /// libfuse 3.14's loop (`Loop` says which): protocol 7.38 at most.
    case libfuse
    /// The native engine (Engine/FuseConnection.swift), the default: the
    /// kernel's newest protocol, read/write on one cloned descriptor per
    /// CPU, or io_uring.
    case native

    /// The engine named `rawValue` (`-o engine=`): "libfuse" or "native", else nil.
    public init?(rawValue: String) {
      switch rawValue {
      case "libfuse": self = .libfuse
      case "native": self = .native
      default: return nil
      }
    }
  }

  /// How the native engine talks to the kernel.
  public enum Transport: String, Sendable {
    /// FUSE-over-io_uring when root has turned it on (enable_uring is Y),
    /// else read/write, without a word about the ring (the default).
    case automatic
    /// read(2) and writev(2) on /dev/fuse descriptors.
    case readWrite
    /// FUSE-over-io_uring (Engine/FuseUringTransport.swift) when the kernel
    /// allows it (enable_uring), else read/write, saying why in
    /// /proc/vfs/connection.
    case ioUring

    /// The transport named `rawValue` (`-o transport=`): "auto", "readwrite"
    /// or "uring", else nil.
    public init?(rawValue: String) {
      switch rawValue {
      case "auto", "automatic": self = .automatic
      case "readwrite", "read/write", "dev": self = .readWrite
      case "uring", "io_uring": self = .ioUring
      default: return nil
      }
    }

    /// The name `-o transport=` takes.
    public var rawValue: String {
      switch self {
      case .automatic: return "auto"
      case .readWrite: return "readwrite"
      case .ioUring: return "uring"
      }
    }
  }

  /// Serves requests until unmount or a signal. Returns 0 on a clean end,
  /// and -EBADF at once if the session is already closed. The native
  /// `engine` ignores `maxIdleThreads`, and serves `.libfuseMultithreaded`
  /// as `.threaded`.
  public func run(
    loop: Loop, engine: Engine, maxThreads: Int = 16, maxIdleThreads: Int = 8,
    transport: Transport = .automatic
  ) -> Int32 {
    guard let session else { return -EBADF }
    if engine == .native {
      return runNative(
        session, single: loop == .single, maxThreads: maxThreads, transport: transport)
    }
    let bridge = self.bridge.takeUnretainedValue()
    // Requests that sleep (device reads, the trace) may hold at most a few
    // less than all the threads, so some are always free to serve the
    // requests that wake them.
    WaitQueue.sleeperLimit = loop == .single ? 0 : max(1, maxThreads - 4)
    switch loop {
    case .single:
      return fuse_session_loop(session) < 0 ? -1 : 0
    case .libfuseMultithreaded:
      let config = fuse_loop_cfg_create()
      fuse_loop_cfg_set_max_threads(config, UInt32(maxThreads))
      fuse_loop_cfg_set_idle_threads(config, UInt32(maxIdleThreads))
      fuse_loop_cfg_set_clone_fd(config, 0)
      let result = cfuse_session_loop_mt(session, config)
      fuse_loop_cfg_destroy(config)
      // A signal ends the loop with a positive signal number: a clean exit.
      return result < 0 ? result : 0
    case .threaded:
      let workers = FuseWorkers(maxThreads: maxThreads)
      bridge.workers = workers
      // Like fuse_session_loop(), with the workers beside it.
      var buffer = fuse_buf()
      var result: Int32 = 0
      while fuse_session_exited(session) == 0 {
        result = fuse_session_receive_buf(session, &buffer)
        if result == -EINTR { continue }
        if result <= 0 { break }
        fuse_session_process_buf(session, &buffer)
      }
      free(buffer.mem)
      // No reply may go to a session that is about to be destroyed.
      _ = workers.drain(seconds: 5)
      bridge.workers = nil
      fuse_session_reset(session)
      return result < 0 ? result : 0
    }
  }

  /// The native engine: libfuse mounted, the engine serves the session's
  /// descriptor; requests that may sleep go to workers, as in `.threaded`.
  private func runNative(
    _ session: OpaquePointer, single: Bool, maxThreads: Int, transport: Transport
  ) -> Int32 {
    let bridge = self.bridge.takeUnretainedValue()
    for op in FuseOpcode.allCases where op.isNativeOnly {
      bridge.vfs.requests.declare(op.name, operation: op.vfsOperation)
    }
    // `.single`: one thread and no workers; a request that would sleep
    // gets EAGAIN, as on libfuse's single loop.
    WaitQueue.sleeperLimit = single ? 0 : max(1, maxThreads - 4)
    let connection = FuseConnection(
      bridge: bridge, sessionFD: fuse_session_fd(session),
      threads: single ? 1 : FuseConnection.defaultThreads, transport: transport)
    bridge.workers = single ? nil : FuseWorkers(maxThreads: maxThreads)
    bridge.kernel = .native(connection)
    bridge.notifier.attach(.native(connection))
    SignalWatch.stopFD = connection.stopWriteFD
    // A signal that came before the stop descriptor was known.
    if fuse_session_exited(session) != 0 { connection.stop() }
    let result = connection.run()
    SignalWatch.stopFD = -1
    bridge.workers = nil
    // Notifications after this go nowhere (and the bridge lets go of the connection).
    bridge.notifier.detach()
    bridge.kernel = nil
    return result
  }

  /// Unmounts (if still mounted) and frees the session. Safe to call more
  /// than once, and without `run`: only the first call does anything.
  public func close() {
    guard let session else { return }
    self.session = nil
    // A signal after this must not reach a freed session.
    if SignalWatch.session == session { SignalWatch.session = nil }
    let bridge = self.bridge.takeUnretainedValue()
    // Async requests still waiting are cancelled and reply before the end.
    bridge.asyncRequests.drain(seconds: 5)
    bridge.notifier.detach()
    bridge.kernel = nil
    fuse_session_unmount(session)
    fuse_session_destroy(session)
    self.bridge.release()
  }

  deinit { close() }
}

/// What the signal handler may touch: set once before handlers are installed.
enum SignalWatch {
  nonisolated(unsafe) static var session: OpaquePointer?
  nonisolated(unsafe) static var readEnd: Int32 = -1
  nonisolated(unsafe) static var writeEnd: Int32 = -1
  /// The write end of the native engine's stop pipe while it runs, else -1.
  nonisolated(unsafe) static var stopFD: Int32 = -1
}
