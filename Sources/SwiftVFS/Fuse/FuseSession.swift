import CFuse

#if canImport(Glibc)
  import Glibc
#endif

/// One FUSE mount: the libfuse session, its kernel connection, and the loop
/// that serves requests. The mount's life: `init` mounts, `run` serves until
/// the file system is unmounted (or a signal ends the loop), `close` unmounts
/// what is still mounted and frees the session.
public final class FuseSession {
  public struct Failure: Error, CustomStringConvertible {
    public let description: String
  }

  private let session: OpaquePointer
  private let bridge: Unmanaged<FuseBridge>
  public let mountPoint: String
  private var closed = false

  /// Mounts `bridge` at `mountPoint`. `kernelOptions` are the `-o` options
  /// for the kernel mount itself (fsname, default_permissions, allow_other, ro).
  public init(bridge: FuseBridge, mountPoint: String, kernelOptions: [String]) throws(Failure) {
    self.mountPoint = mountPoint
    self.bridge = Unmanaged.passRetained(bridge)
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
      throw Failure(description: "cannot create a FUSE session (bad options?)")
    }
    session = made
    bridge.session = made
    bridge.notifier.attach(made)
    guard fuse_session_mount(session, mountPoint) == 0 else {
      bridge.notifier.detach()
      fuse_session_destroy(session)
      self.bridge.release()
      throw Failure(
        description: "cannot mount on \(mountPoint) (is /dev/fuse usable, and are you root?)")
    }
    bridge.readaheadControl = FuseSession.readaheadControl(of: mountPoint)
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
    SignalWatch.session = session
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { return }
    SignalWatch.readEnd = fds[0]
    SignalWatch.writeEnd = fds[1]
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in
      // Async-signal-safe: a flag store and a write(2).
      if let session = SignalWatch.session { fuse_session_exit(session) }
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
    fuse_daemonize(foreground ? 1 : 0)
  }

  /// How requests are served.
  public enum Loop: Sendable {
    /// One thread serves everything; a request that would sleep gets EAGAIN.
    case single
    /// One thread serves what cannot sleep (all of memfs) at once, and hands
    /// requests on files that may sleep (devices, /proc) to worker threads
    /// (`FuseWorkers` explains why). The default.
    case threaded
    /// libfuse's multi-threaded loop: every request on a pool thread.
    case libfuseMultithreaded
  }

  /// Serves requests until unmount or a signal. Returns 0 on a clean end.
  public func run(loop: Loop, maxThreads: Int = 16, maxIdleThreads: Int = 8) -> Int32 {
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

  /// Unmounts (if still mounted) and frees the session.
  public func close() {
    guard !closed else { return }
    closed = true
    // Async requests still waiting are cancelled and reply before the end.
    bridge.takeUnretainedValue().asyncRequests.drain(seconds: 5)
    bridge.takeUnretainedValue().notifier.detach()
    fuse_session_unmount(session)
    fuse_session_destroy(session)
    bridge.release()
  }

  deinit { close() }
}

/// What the signal handler may touch: set once before handlers are installed.
enum SignalWatch {
  nonisolated(unsafe) static var session: OpaquePointer?
  nonisolated(unsafe) static var readEnd: Int32 = -1
  nonisolated(unsafe) static var writeEnd: Int32 = -1
}
