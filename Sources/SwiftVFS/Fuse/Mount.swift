import Dispatch
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// Why a mount failed: the step that failed, the errno it gave, and the path.
public struct MountError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The step of mounting, serving or unmounting that failed.
  public enum Call: String, Sendable {
    /// The check before mounting: the path exists (ENOENT), is a directory
    /// (ENOTDIR) and is not a mount point already (EBUSY).
    case mountPointCheck = "mount point check"
    /// The VFS has no file system mounted at "/" (EINVAL): mount one first.
    case rootCheck = "VFS root check"
    /// libfuse refused the options (EINVAL).
    case sessionNew = "fuse_session_new"
    /// The kernel mount itself (/dev/fuse unusable, not root: EPERM, EACCES).
    case sessionMount = "fuse_session_mount"
    /// The loop ended on an error reading from /dev/fuse.
    case sessionLoop = "fuse_session_receive_buf"
    /// The loop did not end after the lazy unmount and an abort (ETIMEDOUT).
    case unmount = "umount2"
  }

  /// The step that failed.
  public let call: Call
  /// The errno it gave.
  public let errno: Errno
  /// The mount point.
  public let path: String

  /// Makes an error for `call` on `path`.
  public init(_ call: Call, _ errno: Errno, path: String) {
    self.call = call
    self.errno = errno
    self.path = path
  }

  /// "fuse_session_mount /mnt/x: EPERM (Operation not permitted)".
  public var description: String {
    "\(call.rawValue) \(path): \(errno.name) (\(String(cString: strerror(errno.rawValue))))"
  }
}

/// A `VFS` mounted through FUSE: a handle any task or thread may hold.
///
/// `init` mounts; `start()` serves on a thread of its own (the libfuse loop
/// blocks in read(2), so it never runs on a Swift concurrency thread);
/// `run()` waits for the loop to end; `unmount()` ends it and frees the
/// session. A mount still up when the handle goes away is unmounted.
///
/// ```swift
/// let mount = try FuseMount(vfs, at: "/mnt/demo")
/// try await mount.run()  // until `umount /mnt/demo` or `mount.unmount()`
/// ```
///
/// Teardown is safe in a process that is also the mount's client: it
/// unmounts lazily from outside (`umount2(MNT_DETACH)`), so the loop keeps
/// serving the files still open until they are closed; it waits for the loop
/// with a timeout, aborts the connection if it is stuck (an open file never
/// closed), and destroys the session only after the loop has returned.
public final class FuseMount: Sendable {
  /// How to mount and serve.
  public struct Options: Sendable {
    /// The kernel mount's `-o` options (fsname, subtype, default_permissions,
    /// allow_other, ro).
    public var kernelOptions = ["fsname=swiftvfs", "default_permissions"]
    /// Cache timeouts and the like, for the request bridge.
    public var bridge = FuseBridge.Options()
    /// How requests are served (see `FuseSession.Loop`).
    public var loop = FuseSession.Loop.threaded
    /// Who reads requests: the native engine (the default) or libfuse's loop.
    public var engine = FuseSession.Engine.native
    /// The native engine's transport: io_uring when the kernel has it
    /// enabled, else read/write (the default), or either one asked for.
    public var transport = FuseSession.Transport.automatic
    /// The most threads the loop may use.
    public var maxThreads = 16
    /// Seconds `unmount()` waits for the loop after the lazy unmount before
    /// it aborts the connection (then it waits as long again).
    public var unmountTimeout = 10.0

    /// The defaults: default_permissions, the threaded loop, 10 s to unmount.
    public init() {}
  }

  /// The mount point (an absolute path, symlinks resolved).
  public let path: String
  /// The file system served.
  public let vfs: VFS
  private let options: Options
  private let core: Core

  /// Mounts `vfs` at `path`, an existing directory that is not a mount
  /// point. Serving starts with `start()` or `run()`.
  public init(_ vfs: VFS, at path: String, options: Options = Options()) throws(MountError) {
    let absolute = try FuseMount.checkMountPoint(path)
    guard vfs.rootSuperBlock != nil else { throw MountError(.rootCheck, .EINVAL, path: absolute) }
    self.path = absolute
    self.vfs = vfs
    self.options = options
    let bridge = FuseBridge(vfs: vfs, options: options.bridge)
    let session: FuseSession
    do {
      session = try FuseSession(
        bridge: bridge, mountPoint: absolute, kernelOptions: options.kernelOptions)
    } catch {
      let call: MountError.Call = error.call == "fuse_session_new" ? .sessionNew : .sessionMount
      throw MountError(call, error.errno ?? .EIO, path: absolute)
    }
    // The connection's number in /sys/fs/fuse/connections is the minor of
    // the mount's device, read now: after a lazy unmount it is not listed.
    let device = MountTable.entries().last { $0.mountPoint == absolute }?.device
    let minor = device.flatMap { $0.split(separator: ":").last.flatMap { UInt32($0) } }
    core = Core(session: session, connection: minor)
  }

  /// Like the checks mount(8) and vfsmount make: the path exists, is a
  /// directory, and is not a mount point already (mounting over one would
  /// hide it). Returns the resolved path.
  static func checkMountPoint(_ path: String) throws(MountError) -> String {
    var st = stat()
    guard stat(path, &st) == 0 else { throw MountError(.mountPointCheck, Errno(errno), path: path) }
    guard st.st_mode & S_IFMT == S_IFDIR else {
      throw MountError(.mountPointCheck, .ENOTDIR, path: path)
    }
    guard let resolved = realpath(path, nil) else {
      throw MountError(.mountPointCheck, Errno(errno), path: path)
    }
    defer { free(resolved) }
    let absolute = String(cString: resolved)
    if MountTable.entries().contains(where: { $0.mountPoint == absolute }) {
      throw MountError(.mountPointCheck, .EBUSY, path: absolute)
    }
    return absolute
  }

  /// Starts serving requests on a thread of its own and returns at once.
  /// Does nothing if serving has started, or after `unmount()`.
  public func start() {
    guard let session = core.claimStart() else { return }
    let core = self.core
    let options = self.options
    Self.spawnThread {
      let result = session.session.run(
        loop: options.loop, engine: options.engine, maxThreads: options.maxThreads,
        transport: options.transport)
      core.loopEnded(result)
    }
  }

  /// Serves requests (starting the loop if `start()` did not) until the file
  /// system is unmounted, by `unmount()`, `umount` or `fusermount3 -u`; then
  /// frees the session. The loop runs on its own thread: awaiting this holds
  /// no Swift concurrency thread.
  public func run() async throws(MountError) {
    start()
    while !(await core.waitForLoop(seconds: 3600)) {}
    core.closeSession()
    if let result = core.loopResult, result < 0 {
      throw MountError(.sessionLoop, Errno(-result), path: path)
    }
  }

  /// Unmounts and returns once the loop has ended and the session is freed.
  /// Safe to call more than once, and concurrently: later calls wait for the
  /// first. Throws (`.unmount`, ETIMEDOUT) only if the loop would not end
  /// even after the connection was aborted; the session is then left alone.
  public func unmount() async throws(MountError) {
    guard core.claimUnmount() else {
      await core.waitForClosed()
      return
    }
    detach()
    if core.loopWasStarted {
      if !(await core.waitForLoop(seconds: options.unmountTimeout)) {
        core.abortConnection()
        if !(await core.waitForLoop(seconds: options.unmountTimeout)) {
          core.giveUp()
          throw MountError(.unmount, Errno(ETIMEDOUT), path: path)
        }
      }
    }
    core.closeSession()
  }

  /// `unmount()` for synchronous callers (an XCTest `tearDown`): blocks the
  /// calling thread. From async code use `unmount()`.
  public func unmountBlocking() throws(MountError) {
    guard core.claimUnmount() else {
      core.waitForClosedBlocking()
      return
    }
    detach()
    if core.loopWasStarted {
      if !core.waitForLoopBlocking(seconds: options.unmountTimeout) {
        core.abortConnection()
        if !core.waitForLoopBlocking(seconds: options.unmountTimeout) {
          core.giveUp()
          throw MountError(.unmount, Errno(ETIMEDOUT), path: path)
        }
      }
    }
    core.closeSession()
  }

  /// Whether the session has been freed (after `unmount()` or `run()`).
  public var isClosed: Bool { core.isClosed }

  /// The lazy unmount from outside (the loop ends when the last open file
  /// of the mount is closed); if even that fails, the connection is aborted.
  private func detach() {
    if umount2(path, Int32(MNT_DETACH)) != 0, errno != EINVAL, errno != ENOENT {
      core.abortConnection()
    }
  }

  deinit {
    if !core.isClosed, !core.unmountClaimed { try? unmountBlocking() }
  }

  /// Runs `body` on a new detached thread (not a Swift concurrency thread).
  private static func spawnThread(_ body: @escaping @Sendable () -> Void) {
    if let thread = startKernelThread(body) {
      pthread_detach(thread)
    } else {
      body()  // no thread to be had: serve on this one
    }
  }
}

/// The session as the loop thread holds it: only that thread runs it, and
/// `Core` closes it only after the loop has returned.
private final class SessionRef: @unchecked Sendable {
  let session: FuseSession
  init(_ session: FuseSession) { self.session = session }
}

/// A mount's shared state, guarded by `lock`; the loop thread and every
/// caller of the handle reach it.
private final class Core: @unchecked Sendable {
  private let lock = Lock()
  private var session: SessionRef?  // nil once closed or given up
  private var started = false
  private var unmounting = false
  private var result: Int32?
  /// Entered while the loop runs.
  private let loop = DispatchGroup()
  /// Entered until the session is closed (or given up).
  private let closed = DispatchGroup()
  private var closedLeft = false
  let connection: UInt32?

  init(session: FuseSession, connection: UInt32?) {
    self.session = SessionRef(session)
    self.connection = connection
    closed.enter()
  }

  func claimStart() -> SessionRef? {
    lock.withLock {
      guard !started, !unmounting, let session else { return nil }
      started = true
      loop.enter()
      return session
    }
  }

  func loopEnded(_ result: Int32) {
    lock.withLock { self.result = result }
    loop.leave()
  }

  var loopResult: Int32? { lock.withLock { result } }
  var loopWasStarted: Bool { lock.withLock { started } }
  var isClosed: Bool { lock.withLock { session == nil } }
  var unmountClaimed: Bool { lock.withLock { unmounting } }

  /// True for the first caller only.
  func claimUnmount() -> Bool {
    lock.withLock {
      defer { unmounting = true }
      return !unmounting
    }
  }

  /// Frees the session; only once the loop has ended (or never started).
  func closeSession() {
    let (taken, leave): (SessionRef?, Bool) = lock.withLock {
      defer {
        session = nil
        closedLeft = true
      }
      return (session, !closedLeft)
    }
    taken?.session.close()
    if leave { closed.leave() }
  }

  /// The loop is stuck: keep the session (destroying it under a running
  /// loop would be worse) and let waiters go.
  func giveUp() {
    let leave = lock.withLock {
      defer {
        if let session { _ = Unmanaged.passRetained(session) }  // leaked on purpose
        session = nil
        closedLeft = true
      }
      return !closedLeft
    }
    if leave { closed.leave() }
  }

  func waitForLoop(seconds: Double) async -> Bool {
    await Self.wait(for: loop, seconds: seconds)
  }

  func waitForLoopBlocking(seconds: Double) -> Bool {
    loop.wait(timeout: .now() + seconds) == .success
  }

  func waitForClosed() async {
    while !(await Self.wait(for: closed, seconds: 3600)) {}
  }

  func waitForClosedBlocking() { closed.wait() }

  /// Resumes on whichever comes first: the group empties, or the timeout.
  private static func wait(for group: DispatchGroup, seconds: Double) async -> Bool {
    final class Once: @unchecked Sendable {
      let lock = Lock()
      var done = false
      func claim() -> Bool {
        lock.withLock {
          defer { done = true }
          return !done
        }
      }
    }
    return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
      let once = Once()
      group.notify(queue: .global()) { if once.claim() { continuation.resume(returning: true) } }
      DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
        if once.claim() { continuation.resume(returning: false) }
      }
    }
  }

  /// Writes 1 to /sys/fs/fuse/connections/N/abort, mounting fusectl there
  /// first if it is empty: every request then fails with ENOTCONN and the
  /// loop's read returns ENODEV, so the loop ends.
  func abortConnection() {
    guard let connection else { return }
    let dir = "/sys/fs/fuse/connections"
    if access("\(dir)/\(connection)", F_OK) != 0 {
      _ = Glibc.mount("fusectl", dir, "fusectl", 0, nil)
    }
    let fd = open("\(dir)/\(connection)/abort", O_WRONLY)
    guard fd >= 0 else { return }
    _ = write(fd, "1", 1)
    close(fd)
  }
}
