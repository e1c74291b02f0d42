import CFuse
import Logging
import SwiftVFSCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The FUSE bridge: the only code that speaks libfuse. Each low-level request
/// is decoded, checked, handed to the VFS, and answered with exactly one
/// reply (or none, for forget). Errors become `fuse_reply_err` here and
/// nowhere else.
///
/// Lookup counts: every entry reply (lookup, mknod, mkdir, symlink, link,
/// create, and each readdirplus entry) adds one in the VFS; if the reply
/// cannot be delivered, the count is given back at once.
public final class FuseBridge: @unchecked Sendable {
  /// How the bridge answers the kernel: cache timeouts and the kernel cache's modes.
  public struct Options: Sendable {
    /// Seconds the kernel may trust a name lookup (entry) and attributes.
    /// Long by default: every change to memfs goes through the kernel, which
    /// drops what it cached itself, so its caches stay true (the same holds
    /// for the generated /proc files and devices, read with direct I/O).
    /// 0 and 0 is the teaching mode: every lookup reaches the Swift dcache.
    public var entryTimeout: Double = 3600
    /// Seconds the kernel may trust the attributes it got (attr_timeout).
    public var attrTimeout: Double = 3600
    /// Let the kernel cache writes (FUSE_CAP_WRITEBACK_CACHE).
    public var writebackCache = false
    /// One log line per request on stderr.
    public var debug = false
    /// Native engine with default_permissions: ask FUSE_ALLOW_IDMAP, so that
    /// idmapped bind mounts of this mount work. Off by default: the kernel
    /// then names the caller only in requests that create an inode (the
    /// others carry FUSE_INVALID_UIDGID), and the caller's fsuid and fsgid
    /// must be read from /proc/PID/status for each of those that needs them.
    public var allowIdmap = false
    /// Where requests and failures are logged (FuseRequestLog.swift): one
    /// debug line per request, one warning per failed request with its
    /// errno. nil (the default) logs nothing and costs one nil check.
    public var logger: Logger?
    /// Native engine, on two CPUs or more: microseconds a serving thread
    /// keeps looking for the next request after a reply while requests come
    /// one at a time, instead of sleeping at once (like the kernel's
    /// net.core.busy_poll). It saves the wake-up of a sleeping thread per
    /// request and costs up to that much CPU time per request; 0 turns it
    /// off (FuseReaderGate).
    public var busyPollMicroseconds = 20
    /// The defaults: one-hour timeouts, no logger, 20 µs of busy polling.
    public init() {}
  }

  /// The VFS whose operations the bridge calls.
  public let vfs: VFS
  let options: Options
  /// Where notifications to the kernel go (libfuse's session or the native
  /// engine's connection); set by `FuseSession`.
  nonisolated(unsafe) var kernel: FuseNotificationTarget?
  /// The mount's readahead control in sysfs, written once after FUSE_INIT.
  nonisolated(unsafe) var readaheadControl: String? {
    didSet { readaheadPending.store(readaheadControl != nil, ordering: .releasing) }
  }
  private let readaheadPending = Atomic<Bool>(false)
  /// Threads for requests that may sleep; nil when the loop serves all
  /// requests itself (`-s`, or libfuse's multi-threaded loop).
  nonisolated(unsafe) var workers: FuseWorkers?
  /// Background requests (readahead, AIO, writeback) the kernel lets be
  /// out at once, asked at INIT for both engines; the kernel's default is
  /// 12. Room beyond what `heldWriteLimit` writes may hold.
  static let maxBackground: UInt16 = 64
  /// Past this many background requests the kernel skips async readahead.
  static let congestionThreshold: UInt16 = 48
  /// O_DIRECT writes held for a page drop at once: a quarter of the slots.
  static let heldWriteLimit = Int(maxBackground / 4)
  /// O_DIRECT writes held on a worker until the kernel has dropped the
  /// file's cached pages (see `write`): at most `FuseBridge.heldWriteLimit`.
  private let heldWrites = Atomic<Int>(0)
  /// Drops the kernel's entries of char nodes whose view changed.
  let notifier: FuseNotifier
  /// Node ids in and out: FUSE_ROOT_ID is the VFS root, whatever its number.
  package let nodeIDs: FuseNodeIDs
  /// Set by the native engine when INIT agreed FUSE_HANDLE_KILLPRIV_V2: the
  /// kernel then leaves clearing setuid and setgid on chown to us.
  nonisolated(unsafe) var handlesKillPrivV2 = false
  /// Whether the native engine asks FUSE_ALLOW_IDMAP (set by FuseSession):
  /// `options.allowIdmap`, and only with default_permissions on the kernel
  /// mount, as the kernel fails the connection otherwise (process_init_reply()).
  nonisolated(unsafe) var asksAllowIdmap = false
  /// Requests served in Tasks, for teardown (FuseAsyncRequests.swift).
  let asyncRequests = FuseAsyncRequests()

  /// A bridge that serves `vfs`'s tree to the kernel with `options`.
  public init(vfs: VFS, options: Options) {
    self.vfs = vfs
    self.options = options
    nodeIDs = FuseNodeIDs(vfs: vfs)
    notifier = FuseNotifier(nodeIDs: nodeIDs)
    vfs.deviceNodeViews.observer = notifier
    // The request table lists every kernel opcode; these are the ones served.
    vfs.requests.declareKinds(FuseOpcode.kernelTable)
    for op in FuseOpcode.allCases where op != .flock && !op.isNativeOnly {
      vfs.requests.declare(op.name, operation: op.vfsOperation)
    }
  }

  // MARK: - Serving one request

  /// Runs `body` for one request: times it, turns a thrown Errno into the
  /// error reply, and records it in the request table. `body` sends the
  /// success reply itself.
  @inline(__always)
  func serve(
    _ req: FuseReplier, _ opcode: FuseOpcode, _ ino: UInt64,
    detail: @autoclosure () -> String = "",
    _ body: () throws(Errno) -> Inode?
  ) {
    if readaheadPending.load(ordering: .acquiring),
      readaheadPending.compareExchange(
        expected: true, desired: false, ordering: .acquiringAndReleasing
      )
      .exchanged, let control = readaheadControl
    {
      raiseReadahead(control)
    }
    let start = FuseBridge.monotonicNanos()
    var served: Inode?
    var failure: Errno?
    do {
      served = try body()
    } catch {
      failure = error
      req.reply(error: error.rawValue)
    }
    finish(opcode, ino, detail: detail(), served: served, failure: failure, start: start)
  }

  /// The kernel caps a FUSE mount's readahead at its default 128 KiB when it
  /// takes FUSE_INIT, whatever max_readahead says; sequential reads then
  /// cost a round trip per 128 KiB. Once INIT is done (at the first request
  /// after it), raise it to the 1 MiB we asked for, as root may in sysfs.
  func raiseReadahead(_ control: String) {
    guard let f = fopen(control, "w") else { return }
    fputs("1024\n", f)
    fclose(f)
  }

  static func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
  }

  static func log(_ r: RequestStats.Record) {
    let result = r.error.map { "\($0)" } ?? "ok"
    let line =
      "\(r.opcode) ino=\(r.ino)\(r.detail.isEmpty ? "" : " " + r.detail) -> \(r.operation) [\(r.fileSystem)] \(result) \(r.latencyNanos / 1000)us\n"
    line.withCString { _ = Glibc.write(2, $0, strlen($0)) }
  }

  /// The caller's supplementary groups (from /proc/PID/status).
  static func groups(_ req: FuseReplier) -> [UInt32] { req.groups }

  static func cred(_ req: FuseReplier) -> Cred { req.cred }

  // MARK: - Entries

  /// The inode the kernel names by `nodeID` (FUSE_ROOT_ID is the VFS root).
  package func node(_ nodeID: UInt64) throws(Errno) -> Inode {
    try vfs.inode(nodeIDs.ino(ofNode: nodeID))
  }

  func entryParam(_ inode: Inode, stat st: Stat) -> fuse_entry_param {
    var e = fuse_entry_param()
    e.ino = nodeIDs.nodeID(ofIno: inode.ino)
    // The kernel made the root inode with generation 0 (fuse_get_root_inode)
    // and warns "root generation should be zero" if a lookup says otherwise
    // (".." of a top directory, "." of the root, for file handles).
    e.generation = e.ino == FuseNodeIDs.rootID ? 0 : inode.generation
    e.attr = attributes(st)
    e.attr_timeout = options.attrTimeout
    e.entry_timeout = options.entryTimeout
    return e
  }

  /// Sends an entry reply for an inode the VFS just gave one lookup to; if
  /// the kernel does not take it, the lookup is given back.
  ///
  /// `asMknodAskedFor`: the reply to MKNOD of a char device must have the
  /// type the kernel asked for (else EIO); if a driver serves it, zero
  /// timeouts make its next lookup see the regular-file view (DESIGN.md).
  func replyEntry(_ req: FuseReplier, _ inode: Inode, asMknodAskedFor: Bool = false)
    throws(Errno)
  {
    let st = try statOrForget(inode)
    var e = entryParam(inode, stat: st)
    if asMknodAskedFor, e.attr.st_mode & FileType.mask != st.mode & FileType.mask {
      e.attr = FuseAttributes.stat(st, asRegularFile: false)
      e.attr_timeout = 0
      e.entry_timeout = 0
    }
    if req.reply(entry: &e) != 0 { vfs.forget(inode.ino, count: 1) }
  }

  /// The attributes of an inode just given a lookup; if they cannot be had,
  /// the lookup is given back before the error goes to the kernel.
  func statOrForget(_ inode: Inode) throws(Errno) -> Stat {
    do throws(Errno) {
      return try vfs.getattr(inode)
    } catch {
      vfs.forget(inode.ino, count: 1)
      throw error
    }
  }

  func lookup(_ req: FuseReplier, _ parent: UInt64, _ namePtr: UnsafePointer<CChar>?) {
    if let dir = asyncInode(parent) { return lookupAsync(req, dir, namePtr) }
    serve(req, .lookup, parent, detail: String(cString: namePtr!)) { () throws(Errno) -> Inode? in
      let name = try FuseAttributes.name(namePtr)
      if name.isDotOrDotDot {
        // Only to decode a file handle, on an id the kernel may have forgotten (Export.swift).
        let inode = try vfs.exportLookup(nodeIDs.ino(ofNode: parent), name)
        try replyEntry(req, inode)
        return inode
      }
      let dir = try node(parent)
      let inode: Inode
      do throws(Errno) {
        inode = try vfs.lookup(dir, name)
      } catch  where error == .ENOENT {
        // A negative entry the kernel may cache for entry_timeout.
        var e = fuse_entry_param()
        e.entry_timeout = options.entryTimeout
        req.reply(entry: &e)
        return dir
      }
      try replyEntry(req, inode)
      return inode
    }
  }

  func forget(_ req: FuseReplier, _ ino: UInt64, _ count: UInt64) {
    serve(req, .forget, ino) { () throws(Errno) -> Inode? in
      vfs.forget(nodeIDs.ino(ofNode: ino), count: count)
      return nil
    }
    req.replyNone()
  }

  func forgetMulti(
    _ req: FuseReplier, _ count: Int, _ list: UnsafeMutablePointer<fuse_forget_data>?
  ) {
    serve(req, .batchForget, 0, detail: "count=\(count)") { () throws(Errno) -> Inode? in
      for i in 0..<count {
        vfs.forget(nodeIDs.ino(ofNode: list![i].ino), count: list![i].nlookup)
      }
      return nil
    }
    req.replyNone()
  }

  func getattr(_ req: FuseReplier, _ ino: UInt64) {
    if let inode = asyncInode(ino) { return getattrAsync(req, inode) }
    serve(req, .getattr, ino) { () throws(Errno) -> Inode? in
      let inode = try node(ino)
      var st = attributes(try vfs.getattr(inode))
      req.reply(attr: &st, timeout: options.attrTimeout)
      return inode
    }
  }

  func setattr(
    _ req: FuseReplier, _ ino: UInt64, _ attr: UnsafeMutablePointer<stat>?, _ toSet: Int32,
    throughFile: Bool = false
  ) {
    serve(req, .setattr, ino, detail: "to_set=0x\(String(toSet, radix: 16))") {
      () throws(Errno) -> Inode? in
      let inode = try node(ino)
      guard let attr else { throw .EINVAL }
      let change = try FuseAttributes.setAttr(attr.pointee, toSet: toSet)
      let cred = FuseBridge.cred(req)
      var killed: UInt32?
      if handlesKillPrivV2, change.mode == nil, FuseBridge.isChown(change, toSet: toSet) {
        killed = try chownKilledMode(inode, cred: cred) { FuseBridge.groups(req) }
      }
      var result = try vfs.setattr(inode, change, cred: cred, throughFile: throughFile)
      if let killed {
        // The kernel's own change (notify_change() with ATTR_KILL_*), made
        // after the caller's chown succeeded, whoever the caller is.
        var kill = SetAttr()
        kill.mode = killed
        result = try vfs.setattr(inode, kill, cred: .root, throughFile: throughFile)
      }
      // After the change: a truncate's SETATTR carries the mode the kernel
      // computed (setuid cleared), which would restore a setgid cleared first.
      if change.size != nil,
        vfs.killPrivileges(inode, cred: cred, groups: { FuseBridge.groups(req) })
      {
        result = try vfs.getattr(inode)
      }
      var st = attributes(result)
      req.reply(attr: &st, timeout: options.attrTimeout)
      return inode
    }
  }

  /// A chown's SETATTR: a new owner or group, or no attribute at all
  /// (chown(-1, -1), or __remove_privs(): notify_change() with only kill
  /// bits, which fuse_setattr() drops once they are ours).
  static func isChown(_ change: SetAttr, toSet: Int32) -> Bool {
    if change.uid != nil || change.gid != nil { return true }
    let ignored = FUSE_SET_ATTR_CTIME | FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID
    return toSet & ~ignored == 0
  }

  /// With HANDLE_KILLPRIV_V2, what the kernel otherwise does for a chown of
  /// a non-directory (chown_common()'s ATTR_KILL_SUID, and
  /// setattr_should_drop_sgid()): setuid goes, even for root; setgid goes
  /// with group execute, or when the caller is neither root nor in the
  /// file's group. nil if nothing is to be cleared.
  func chownKilledMode(_ inode: Inode, cred: Cred, groups: () -> [UInt32]) throws(Errno)
    -> UInt32?
  {
    guard inode.type == .regular else { return nil }
    let st = try vfs.getattr(inode)
    let mode = st.mode & ModeBits.permissions
    var kill = mode & ModeBits.setuid
    if mode & ModeBits.setgid != 0,
      mode & ModeBits.groupExec != 0
        || (!cred.isRoot && cred.gid != st.gid && !groups().contains(st.gid))
    {
      kill |= ModeBits.setgid
    }
    return kill == 0 ? nil : mode & ~kill
  }

  func readlink(_ req: FuseReplier, _ ino: UInt64) {
    serve(req, .readlink, ino) { () throws(Errno) -> Inode? in
      let inode = try node(ino)
      var target = try vfs.readlink(inode)
      target.append(0)
      target.withUnsafeBufferPointer {
        $0.withMemoryRebound(to: CChar.self) {
          if let target = $0.baseAddress { req.reply(readlink: target) }
        }
      }
      return inode
    }
  }

  func mknod(
    _ req: FuseReplier, _ parent: UInt64, _ namePtr: UnsafePointer<CChar>?, _ mode: mode_t,
    _ rdev: dev_t
  ) {
    serve(req, .mknod, parent, detail: String(cString: namePtr!)) { () throws(Errno) -> Inode? in
      let dir = try node(parent)
      let name = try FuseAttributes.name(namePtr)
      let dev = try DevT(userEncoding: UInt64(rdev))
      let inode = try vfs.mknod(dir, name, mode: mode, rdev: dev, cred: FuseBridge.cred(req))
      try replyEntry(req, inode, asMknodAskedFor: inode.type == .characterDevice)
      return inode
    }
  }

  func mkdir(_ req: FuseReplier, _ parent: UInt64, _ namePtr: UnsafePointer<CChar>?, _ mode: mode_t)
  {
    serve(req, .mkdir, parent, detail: String(cString: namePtr!)) { () throws(Errno) -> Inode? in
      let dir = try node(parent)
      let name = try FuseAttributes.name(namePtr)
      let inode = try vfs.mkdir(dir, name, mode: mode, cred: FuseBridge.cred(req))
      try replyEntry(req, inode)
      return inode
    }
  }

  func symlink(
    _ req: FuseReplier, _ target: UnsafePointer<CChar>?, _ parent: UInt64,
    _ namePtr: UnsafePointer<CChar>?
  ) {
    serve(req, .symlink, parent, detail: String(cString: namePtr!)) { () throws(Errno) -> Inode? in
      let dir = try node(parent)
      let name = try FuseAttributes.name(namePtr)
      guard let target else { throw .EINVAL }
      let length = strnlen(target, 4096)
      let bytes = target.withMemoryRebound(to: UInt8.self, capacity: length) {
        Array(UnsafeBufferPointer(start: $0, count: length))
      }
      let inode = try vfs.symlink(dir, name, target: bytes, cred: FuseBridge.cred(req))
      try replyEntry(req, inode)
      return inode
    }
  }

  func link(
    _ req: FuseReplier, _ ino: UInt64, _ newParent: UInt64, _ namePtr: UnsafePointer<CChar>?
  ) {
    serve(req, .link, ino, detail: String(cString: namePtr!)) { () throws(Errno) -> Inode? in
      let inode = try node(ino)
      let dir = try node(newParent)
      let name = try FuseAttributes.name(namePtr)
      try replyEntry(req, try vfs.link(inode, dir, name))
      return inode
    }
  }

  func unlink(_ req: FuseReplier, _ parent: UInt64, _ namePtr: UnsafePointer<CChar>?) {
    serve(req, .unlink, parent, detail: String(cString: namePtr!)) { () throws(Errno) -> Inode? in
      let dir = try node(parent)
      try vfs.unlink(dir, try FuseAttributes.name(namePtr))
      req.reply(error: 0)
      return dir
    }
  }

  func rmdir(_ req: FuseReplier, _ parent: UInt64, _ namePtr: UnsafePointer<CChar>?) {
    serve(req, .rmdir, parent, detail: String(cString: namePtr!)) { () throws(Errno) -> Inode? in
      let dir = try node(parent)
      try vfs.rmdir(dir, try FuseAttributes.name(namePtr))
      req.reply(error: 0)
      return dir
    }
  }

  func rename(
    _ req: FuseReplier, _ parent: UInt64, _ namePtr: UnsafePointer<CChar>?, _ newParent: UInt64,
    _ newNamePtr: UnsafePointer<CChar>?, _ flags: UInt32
  ) {
    serve(
      req, .rename, parent,
      detail: "\(String(cString: namePtr!)) -> \(String(cString: newNamePtr!))"
    ) { () throws(Errno) -> Inode? in
      let dir = try node(parent)
      let newDir = try node(newParent)
      try vfs.rename(
        dir, try FuseAttributes.name(namePtr), newDir, try FuseAttributes.name(newNamePtr),
        flags: RenameFlags(rawValue: flags), cred: FuseBridge.cred(req))
      req.reply(error: 0)
      return dir
    }
  }

  // MARK: - Open files

  /// Runs a read, write or ioctl that may sleep (devices and generated
  /// files, which use direct I/O) so that FUSE_INTERRUPT wakes it with EINTR.
  /// memfs data never sleeps, and skips the cost.
  @inline(__always)
  func mayBlock<T>(_ req: FuseReplier, _ file: File, _ body: () throws(Errno) -> T) throws(Errno)
    -> T
  {
    file.directIO ? try Interruption.run(req, body) : try body()
  }

  func fileInfo(_ fi: UnsafeMutablePointer<fuse_file_info>?) throws(Errno) -> File {
    guard let fi else { throw .EBADF }
    return try vfs.file(fi.pointee.fh)
  }

  func fileInfo(handle: UInt64?) throws(Errno) -> File {
    guard let handle else { throw .EBADF }
    return try vfs.file(handle)
  }

  /// The worker pool, if this request is on a file whose operations may
  /// sleep (opened with direct I/O: devices, /proc) and a pool serves them;
  /// or, for a write (`droppingCachedPages`), through an O_DIRECT handle of a
  /// file the kernel may cache, since it then drops the cached pages, which
  /// may wait on the loop thread (see `write`).
  func sleepyWorkers(_ handle: UInt64?, droppingCachedPages: Bool = false) -> FuseWorkers? {
    guard let workers, let handle, let file = try? vfs.file(handle) else { return nil }
    if file.directIO { return workers }
    if droppingCachedPages, file.bypassesKernelCache,
      file.inode.kernelMayCachePages.load(ordering: .acquiring)
    {
      return workers
    }
    return nil
  }

  /// With the writeback cache the kernel reads pages through any handle
  /// (to fill a partly written page) and does O_APPEND itself, sending
  /// writes at their real offsets: so a write-only open is made read-write
  /// and O_APPEND is dropped here (as libfuse's passthrough example does).
  func openFlags(_ flags: Int32) -> Int32 {
    guard options.writebackCache else { return flags }
    var f = flags & ~OpenFlags.append
    if f & OpenFlags.accessMode == O_WRONLY { f = f & ~OpenFlags.accessMode | O_RDWR }
    return f
  }

  func fillOpen(_ fi: UnsafeMutablePointer<fuse_file_info>, _ fh: UInt64, _ file: File) {
    fi.pointee.fh = fh
    fi.pointee.direct_io = file.directIO ? 1 : 0
    fi.pointee.keep_cache = file.keepCache ? 1 : 0
    fi.pointee.nonseekable = file.nonSeekable ? 1 : 0
    fi.pointee.noflush = file.noFlush ? 1 : 0
  }

  func open(_ req: FuseReplier, _ ino: UInt64, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    if let inode = asyncFileInode(ino) { return openAsync(req, inode, fi, directory: false) }
    serve(req, .open, ino, detail: "flags=0o\(String(fi?.pointee.flags ?? 0, radix: 8))") {
      () throws(Errno) -> Inode? in
      let inode = try node(ino)
      guard let fi else { throw .EINVAL }
      let cred = FuseBridge.cred(req)
      let (fh, file) = try vfs.open(
        inode, flags: openFlags(fi.pointee.flags), cred: cred, asked: fi.pointee.flags)
      if fi.pointee.flags & OpenFlags.truncate != 0, file.isWritable {
        // FUSE_ATOMIC_O_TRUNC: the kernel truncated through this OPEN and
        // skips the SETATTR that would have cleared setuid and setgid.
        vfs.killPrivileges(inode, cred: cred) { FuseBridge.groups(req) }
      }
      fillOpen(fi, fh, file)
      if req.reply(open: fi) != 0 { vfs.release(fh) }
      return inode
    }
  }

  func create(
    _ req: FuseReplier, _ parent: UInt64, _ namePtr: UnsafePointer<CChar>?, _ mode: mode_t,
    _ fi: UnsafeMutablePointer<fuse_file_info>?
  ) {
    serve(req, .create, parent, detail: String(cString: namePtr!)) { () throws(Errno) -> Inode? in
      let dir = try node(parent)
      let name = try FuseAttributes.name(namePtr)
      guard let fi else { throw .EINVAL }
      let (inode, fh, file) = try vfs.create(
        dir, name, mode: mode, flags: openFlags(fi.pointee.flags), cred: FuseBridge.cred(req),
        asked: fi.pointee.flags)
      try replyCreate(req, inode, fh, file, fi)
      return inode
    }
  }

  /// The reply to CREATE or TMPFILE: the new inode's entry and its open
  /// file (fuse_create_open()). If the attributes cannot be had, or the
  /// kernel no longer waits, the open and the lookup are given back.
  func replyCreate(
    _ req: FuseReplier, _ inode: Inode, _ fh: UInt64, _ file: File,
    _ fi: UnsafeMutablePointer<fuse_file_info>
  ) throws(Errno) {
    let st: Stat
    do throws(Errno) { st = try statOrForget(inode) } catch {
      vfs.release(fh)
      throw error
    }
    var e = entryParam(inode, stat: st)
    fillOpen(fi, fh, file)
    if req.reply(create: &e, fi) != 0 {
      vfs.release(fh)
      vfs.forget(inode.ino, count: 1)
    }
  }

  func read(
    _ req: FuseReplier, _ ino: UInt64, _ size: Int, _ offset: off_t,
    _ fi: UnsafeMutablePointer<fuse_file_info>?
  ) {
    let handle = fi?.pointee.fh
    if let file = asyncFile(handle) { return readAsync(req, file, size, offset) }
    if let workers = sleepyWorkers(handle) {
      let pending = PendingRequest(req: req)
      workers.run { self.read(pending.req, ino, size, offset, handle: handle) }
      return
    }
    read(req, ino, size, offset, handle: handle)
  }

  func read(_ req: FuseReplier, _ ino: UInt64, _ size: Int, _ offset: off_t, handle: UInt64?) {
    serve(req, .read, ino, detail: "off=\(offset) size=\(size)") { () throws(Errno) -> Inode? in
      let file = try fileInfo(handle: handle)
      guard offset >= 0 else { throw .EINVAL }
      if !file.directIO, !file.bypassesKernelCache { file.inode.noteKernelMayCachePages() }
      let spliced = try vfs.spliceRead(file, at: Int64(offset), count: size) { slices in
        var iov = slices.map {
          iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count)
        }
        req.reply(iov: &iov)
      }
      if spliced { return file.inode }
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 16)
      defer { buffer.deallocate() }
      let n = try mayBlock(req, file) { () throws(Errno) -> Int in
        try vfs.read(
          file, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size]), at: Int64(offset))
      }
      req.reply(data: buffer.baseAddress, count: n)
      return file.inode
    }
  }

  func write(
    _ req: FuseReplier, _ ino: UInt64, _ data: UnsafePointer<CChar>?, _ size: Int, _ offset: off_t,
    _ fi: UnsafeMutablePointer<fuse_file_info>?
  ) {
    let handle = fi?.pointee.fh
    let bytes = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    if let file = asyncFile(handle) { return writeAsync(req, file, Array(bytes), offset) }
    if let workers = sleepyWorkers(handle, droppingCachedPages: true) {
      // An O_DIRECT write that drops cached pages before its reply is held
      // while the kernel waits for pages under readahead, whose READs need a
      // background slot (max_background) as the held write does. Holding
      // more than a quarter of the slots could leave none for those READs
      // and hang every caller (seen with fio's 64 AIO writes and buffered
      // readers): past the limit the write replies first and the pages are
      // dropped right after it.
      // On io_uring the entry the write holds is one its queue cannot use
      // to fetch those READs, so the queue decides too (mayHoldWhileWaiting).
      // (A file its file system opened with direct I/O, a device, is not
      // cached by the kernel: nothing to drop.)
      let hold = handle.flatMap { try? vfs.file($0) }.map { !$0.directIO } ?? false
      if hold,
        heldWrites.add(1, ordering: .acquiringAndReleasing).newValue > FuseBridge.heldWriteLimit
          || !req.mayHoldWhileWaiting()
      {
        heldWrites.subtract(1, ordering: .acquiringAndReleasing)
        return write(req, ino, bytes, offset, handle: handle)
      }
      // The loop reuses its buffer for the next request: copy the data.
      let copy = Array(bytes)
      let pending = PendingRequest(req: req)
      workers.run {
        copy.withUnsafeBytes {
          self.write(pending.req, ino, $0, offset, handle: handle, dropPagesBeforeReply: hold)
        }
        if hold { self.heldWrites.subtract(1, ordering: .acquiringAndReleasing) }
      }
      return
    }
    write(req, ino, bytes, offset, handle: handle)
  }

  func write(
    _ req: FuseReplier, _ ino: UInt64, _ bytes: UnsafeRawBufferPointer, _ offset: off_t,
    handle: UInt64?, dropPagesBeforeReply: Bool = false
  ) {
    serve(req, .write, ino, detail: "off=\(offset) size=\(bytes.count)") {
      () throws(Errno) -> Inode? in
      let file = try fileInfo(handle: handle)
      guard offset >= 0 else { throw .EINVAL }
      vfs.killPrivileges(file.inode, cred: FuseBridge.cred(req)) { FuseBridge.groups(req) }
      let n = try mayBlock(req, file) { () throws(Errno) -> Int in
        try vfs.write(file, from: bytes, at: Int64(offset))
      }
      // An O_DIRECT write behind the kernel's page cache. The kernel drops
      // the cached pages of the range before it sends an asynchronous (AIO)
      // direct write, but not after (it leaves that to dio_complete(), which
      // FUSE does not use): a buffered read in between cached the old bytes
      // for good. So every cached page is dropped, before the reply when the
      // write is held for it; the flag, cleared first, is set again by the
      // next buffered read or write. The drop waits for pages a reader holds
      // locked while its READ is served, so it runs on a worker, never on
      // the thread that serves requests.
      var dropPagesAfterReply = false
      if file.bypassesKernelCache, workers != nil, let kernel,
        file.inode.kernelMayCachePages.exchange(false, ordering: .acquiringAndReleasing)
      {
        if dropPagesBeforeReply {
          _ = kernel.invalidateInode(ino, offset: 0, length: 0)
        } else {
          dropPagesAfterReply = true
        }
      } else if !file.directIO, !file.bypassesKernelCache {
        file.inode.noteKernelMayCachePages()
      }
      req.reply(write: n)
      if dropPagesAfterReply, let workers, let kernel {
        workers.run { _ = kernel.invalidateInode(ino, offset: 0, length: 0) }
      }
      if options.writebackCache, let kernel {
        // The kernel cached this write and keeps its own size and times, but
        // st_blocks is ours: have it ask again (attributes only, offset -1).
        _ = kernel.invalidateInode(ino, offset: -1, length: 0)
      }
      return file.inode
    }
  }

  func flush(_ req: FuseReplier, _ ino: UInt64, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    serve(req, .flush, ino) { () throws(Errno) -> Inode? in
      let file = try fileInfo(fi)
      try vfs.flush(file)
      req.reply(error: 0)
      return file.inode
    }
  }

  func release(
    _ req: FuseReplier, _ ino: UInt64, _ fi: UnsafeMutablePointer<fuse_file_info>?,
    _ opcode: FuseOpcode
  ) {
    serve(req, opcode, ino) { () throws(Errno) -> Inode? in
      let inode = try? node(ino)
      if let fi { vfs.release(fi.pointee.fh) }
      req.reply(error: 0)
      return inode
    }
  }

  func fsync(
    _ req: FuseReplier, _ ino: UInt64, _ dataOnly: Int32,
    _ fi: UnsafeMutablePointer<fuse_file_info>?, _ opcode: FuseOpcode
  ) {
    serve(req, opcode, ino) { () throws(Errno) -> Inode? in
      let file = try fileInfo(fi)
      try vfs.fsync(file, dataOnly: dataOnly != 0)
      req.reply(error: 0)
      return file.inode
    }
  }

  func opendir(_ req: FuseReplier, _ ino: UInt64, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    if let inode = asyncFileInode(ino) { return openAsync(req, inode, fi, directory: true) }
    serve(req, .opendir, ino) { () throws(Errno) -> Inode? in
      let inode = try node(ino)
      guard let fi else { throw .EINVAL }
      guard inode.isDirectory else { throw .ENOTDIR }
      let (fh, file) = try vfs.open(
        inode, flags: fi.pointee.flags & ~OpenFlags.accessMode, cred: FuseBridge.cred(req))
      fi.pointee.fh = fh
      fi.pointee.cache_readdir = file.cacheDirectory ? 1 : 0
      fi.pointee.keep_cache = file.cacheDirectory ? 1 : 0
      if req.reply(open: fi) != 0 { vfs.release(fh) }
      return inode
    }
  }

  /// READDIR and READDIRPLUS: fills one buffer of entries from the cookie the
  /// kernel gives. With `plus`, each entry (not "." or "..") carries its
  /// attributes and takes a lookup, but only once it is in the buffer, and
  /// only if the kernel does not hold that inode already: an entry it holds
  /// goes with node id 0, which fuse_direntplus_link() takes as a plain
  /// name (fuse2fs, through libfuse's high-level readdir, sends every
  /// entry that way). So listing a directory the kernel has just filled
  /// costs what READDIR costs, not a getattr, a lookup and a FORGET per name.
  func readdir(
    _ req: FuseReplier, _ ino: UInt64, _ size: Int, _ offset: off_t,
    _ fi: UnsafeMutablePointer<fuse_file_info>?, plus: Bool
  ) {
    if let file = asyncFile(fi?.pointee.fh) {
      return readdirAsync(req, file, size, offset, plus: plus)
    }
    serve(req, plus ? .readdirplus : .readdir, ino, detail: "off=\(offset) size=\(size)") {
      () throws(Errno) -> Inode? in
      let file = try fileInfo(fi)
      let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(size, 1))
      defer { buffer.deallocate() }
      var used = 0
      guard plus else {
        // READDIR shows names, numbers and types: each record is written
        // straight from the name the file system lends (its directory
        // block), with no inode, `FileName` or `DirEntry` per entry.
        try vfs.readdirNames(file, from: Int64(offset)) { entry in
          let n = FuseDirent.add(
            to: UnsafeMutableRawPointer(buffer + used), remaining: size - used, name: entry.name,
            ino: entry.ino, offset: entry.offset, mode: shownType(entry).rawValue)
          guard n <= size - used else { return false }
          used += n
          return true
        }
        req.reply(data: buffer, count: used)
        return file.inode
      }
      // READDIRPLUS: "." and ".." take no lookup (the kernel skips them in
      // fuse_direntplus_link() and would never forget one), nor does a name
      // whose inode the kernel holds.
      if vfs.listsOwnNumbers(file.inode) {
        // From lent names too: only an inode the kernel does not hold is
        // found, by its number, for its attributes and a lookup.
        try vfs.readdirNames(file, from: Int64(offset)) { entry in
          var inode: Inode?
          if !entry.isDotOrDotDot, !vfs.kernelHolds(number: entry.ino) {
            inode = entry.inode ?? vfs.listedInode(entry.ino, in: file.inode)
          }
          let st = inode.flatMap { try? vfs.getattr($0) }
          guard
            let n = addDirentryPlus(req, buffer + used, size - used, entry, inode: inode, stat: st)
          else { return false }
          used += n
          return true
        }
      } else {
        try vfs.readdir(file, from: Int64(offset), inodes: true) { entry in
          var st: Stat?
          if !entry.name.isDotOrDotDot, let inode = entry.inode, !vfs.kernelHolds(inode) {
            st = try? vfs.getattr(inode)
          }
          guard let n = addDirentry(req, buffer + used, size - used, entry, plus: true, stat: st)
          else { return false }
          used += n
          return true
        }
      }
      req.reply(data: buffer, count: used)
      return file.inode
    }
  }

  /// Adds one entry to a READDIR or READDIRPLUS reply (`buffer`, `remaining`
  /// bytes free) and returns its size, or nil if it does not fit. For
  /// READDIRPLUS, an entry with attributes (`st`) is handed to the kernel
  /// with one lookup, taken only once it is in the buffer; one without (".",
  /// "..", an inode gone meanwhile) carries its number and type only.
  func addDirentry(
    _ req: FuseReplier, _ buffer: UnsafeMutablePointer<CChar>, _ remaining: Int,
    _ entry: DirEntry, plus: Bool, stat st: Stat?
  ) -> Int? {
    guard plus else {
      // READDIR: the record is written in place from the name's bytes.
      let n = entry.name.bytes.withUnsafeBytes { name in
        FuseDirent.add(
          to: UnsafeMutableRawPointer(buffer), remaining: remaining, name: name, ino: entry.ino,
          offset: entry.offset, mode: shownType(entry).rawValue)
      }
      return n <= remaining ? n : nil
    }
    return entry.name.bytes.withUnsafeBytes { name in
      addDirentryPlus(
        req, buffer, remaining,
        DirEntryView(
          name: name, ino: entry.ino, type: entry.type, offset: entry.offset, inode: entry.inode),
        inode: st == nil ? nil : entry.inode, stat: st)
    }
  }

  /// Adds one READDIRPLUS entry (`struct fuse_direntplus`) and returns its
  /// size, or nil if it does not fit. With `inode` and its attributes `st`
  /// it hands the inode to the kernel with one lookup, taken only once the
  /// entry is in the buffer; without, it carries the name's number and type
  /// only (node id 0: a plain name to fuse_direntplus_link()).
  func addDirentryPlus(
    _ req: FuseReplier, _ buffer: UnsafeMutablePointer<CChar>, _ remaining: Int,
    _ entry: DirEntryView, inode: Inode?, stat st: Stat?
  ) -> Int? {
    // libfuse's builder takes a C string: the name and its NUL go into a
    // stack buffer (no heap copy per entry).
    let count = entry.name.count
    return withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { name -> Int? in
      guard let cName = name.baseAddress else { return nil }
      UnsafeMutableRawBufferPointer(name).copyMemory(from: entry.name)
      name[count] = 0
      var e = fuse_entry_param()
      if let st, let inode {
        e = entryParam(inode, stat: st)
      } else {
        e.attr.st_ino = UInt(entry.ino)
        e.attr.st_mode = shownType(entry).rawValue
      }
      let n = req.addDirentryPlus(buffer, remaining, cName, &e, off_t(entry.offset))
      guard n <= remaining else { return nil }
      if e.ino != 0, let inode { vfs.hold(inode) }
      return n
    }
  }

  func statfs(_ req: FuseReplier, _ ino: UInt64) {
    serve(req, .statfs, ino) { () throws(Errno) -> Inode? in
      let inode = try node(ino)
      var v = FuseAttributes.statvfs(vfs.statfs(inode))
      req.reply(statfs: &v)
      return inode
    }
  }

  // MARK: - Extended attributes

  func setxattr(
    _ req: FuseReplier, _ ino: UInt64, _ namePtr: UnsafePointer<CChar>?,
    _ value: UnsafePointer<CChar>?, _ size: Int, _ flags: Int32
  ) {
    serve(req, .setxattr, ino, detail: String(cString: namePtr!)) { () throws(Errno) -> Inode? in
      let inode = try node(ino)
      let name = try FuseAttributes.xattrName(namePtr)
      guard size <= Simple.xattrSizeMax else { throw .E2BIG }
      let blocks = inode.lock.withLock { inode.blocks }
      let bytes =
        value.map { v in
          v.withMemoryRebound(to: UInt8.self, capacity: size) {
            Array(UnsafeBufferPointer(start: $0, count: size))
          }
        } ?? []
      try vfs.setxattr(
        inode, name, bytes, flags: XattrFlags(rawValue: flags), cred: FuseBridge.cred(req),
        groups: { FuseBridge.groups(req) })
      refreshAttributes(ino, inode, ifBlocksMovedFrom: blocks)
      req.reply(error: 0)
      return inode
    }
  }

  func getxattr(_ req: FuseReplier, _ ino: UInt64, _ namePtr: UnsafePointer<CChar>?, _ size: Int) {
    serve(req, .getxattr, ino, detail: String(cString: namePtr!)) { () throws(Errno) -> Inode? in
      let inode = try node(ino)
      let name = try FuseAttributes.xattrName(namePtr)
      let value = try vfs.getxattr(inode, name, cred: FuseBridge.cred(req))
      try replyXattr(req, value, size)
      return inode
    }
  }

  func listxattr(_ req: FuseReplier, _ ino: UInt64, _ size: Int) {
    serve(req, .listxattr, ino) { () throws(Errno) -> Inode? in
      let inode = try node(ino)
      var list: [UInt8] = []
      for name in try vfs.listxattr(inode, cred: FuseBridge.cred(req)) {
        list.append(contentsOf: name.utf8)
        list.append(0)
      }
      try replyXattr(req, list, size)
      return inode
    }
  }

  /// Size 0 asks for the size; a buffer too small is ERANGE.
  private func replyXattr(_ req: FuseReplier, _ value: [UInt8], _ size: Int) throws(Errno) {
    if size == 0 {
      req.reply(xattrSize: value.count)
    } else {
      guard value.count <= size else { throw .ERANGE }
      value.withUnsafeBytes { _ = req.reply(data: $0.baseAddress, count: $0.count) }
    }
  }

  func removexattr(_ req: FuseReplier, _ ino: UInt64, _ namePtr: UnsafePointer<CChar>?) {
    serve(req, .removexattr, ino, detail: String(cString: namePtr!)) {
      () throws(Errno) -> Inode? in
      let inode = try node(ino)
      let blocks = inode.lock.withLock { inode.blocks }
      try vfs.removexattr(
        inode, try FuseAttributes.xattrName(namePtr), cred: FuseBridge.cred(req),
        groups: { FuseBridge.groups(req) })
      refreshAttributes(ino, inode, ifBlocksMovedFrom: blocks)
      req.reply(error: 0)
      return inode
    }
  }

  /// An xattr change that moved st_blocks (ext2 allocates or frees an xattr
  /// block) is invisible to the kernel, whose fuse_setxattr() and
  /// fuse_removexattr() only mark ctime stale: `stat -c %b` or `ls -s`,
  /// which do not ask for ctime, would show the old count from its cache.
  /// So its cached attributes are dropped (FUSE_NOTIFY_INVAL_INODE for
  /// attributes only, which touches no page) before the reply.
  private func refreshAttributes(_ ino: UInt64, _ inode: Inode, ifBlocksMovedFrom before: Int64) {
    guard let kernel, inode.lock.withLock({ inode.blocks }) != before else { return }
    _ = kernel.invalidateInode(ino, offset: -1, length: 0)
  }

  // MARK: - The rest of file_operations

  func fallocate(
    _ req: FuseReplier, _ ino: UInt64, _ mode: Int32, _ offset: off_t, _ length: off_t,
    _ fi: UnsafeMutablePointer<fuse_file_info>?
  ) {
    serve(req, .fallocate, ino, detail: "mode=\(mode) off=\(offset) len=\(length)") {
      () throws(Errno) -> Inode? in
      let file = try fileInfo(fi)
      try vfs.fallocate(file, mode: mode, offset: Int64(offset), length: Int64(length))
      // The kernel's file_modified() clears setuid; setgid is ours to clear.
      vfs.killPrivileges(file.inode, cred: FuseBridge.cred(req)) { FuseBridge.groups(req) }
      req.reply(error: 0)
      return file.inode
    }
  }

  func lseek(
    _ req: FuseReplier, _ ino: UInt64, _ offset: off_t, _ whence: Int32,
    _ fi: UnsafeMutablePointer<fuse_file_info>?
  ) {
    serve(req, .lseek, ino, detail: "off=\(offset) whence=\(whence)") {
      () throws(Errno) -> Inode? in
      let file = try fileInfo(fi)
      req.reply(lseek: off_t(try vfs.lseek(file, offset: Int64(offset), whence: whence)))
      return file.inode
    }
  }

  func ioctl(
    _ req: FuseReplier, _ ino: UInt64, _ command: UInt32, _ arg: UnsafeMutableRawPointer?,
    _ fi: UnsafeMutablePointer<fuse_file_info>?, _ flags: UInt32,
    _ inBuf: UnsafeRawPointer?, _ inSize: Int, _ outSize: Int
  ) {
    let handle = fi?.pointee.fh
    let input = UnsafeRawBufferPointer(start: inBuf, count: inBuf == nil ? 0 : inSize)
    if let workers = sleepyWorkers(handle) {
      let copy = Array(input)
      let pending = PendingRequest(req: req)
      let argument = UInt(bitPattern: arg)
      workers.run {
        copy.withUnsafeBytes {
          self.ioctl(
            pending.req, ino, command, argument: argument, handle: handle, flags, $0, outSize)
        }
      }
      return
    }
    ioctl(req, ino, command, argument: UInt(bitPattern: arg), handle: handle, flags, input, outSize)
  }

  func ioctl(
    _ req: FuseReplier, _ ino: UInt64, _ command: UInt32, argument arg: UInt, handle: UInt64?,
    _ flags: UInt32, _ input: UnsafeRawBufferPointer, _ outSize: Int
  ) {
    serve(req, .ioctl, ino, detail: "cmd=0x\(String(command, radix: 16))") {
      () throws(Errno) -> Inode? in
      let file = try fileInfo(handle: handle)
      // 32-bit compat ioctls are not served, as a driver without compat_ioctl.
      if flags & UInt32(FUSE_IOCTL_COMPAT) != 0 { throw .ENOSYS }
      let argument = UInt64(arg)
      let (result, output) = try mayBlock(req, file) {
        () throws(Errno) -> (result: Int32, output: [UInt8]) in
        try vfs.ioctl(
          file, command: command, argument: argument, input: input, outputSize: outSize)
      }
      let n = min(output.count, outSize)
      output.withUnsafeBytes { _ = req.reply(ioctl: result, $0.baseAddress, n) }
      return file.inode
    }
  }

  func poll(
    _ req: FuseReplier, _ ino: UInt64, _ fi: UnsafeMutablePointer<fuse_file_info>?,
    waiter: PollWaiter?
  ) {
    serve(req, .poll, ino) { () throws(Errno) -> Inode? in
      // A waiter not kept (on an error) lets its poll handle go when dropped.
      let file = try fileInfo(fi)
      let events = vfs.poll(file, waiter: waiter)
      req.reply(poll: events.rawValue)
      return file.inode
    }
  }
}

/// A FUSE poll handle as a VFS `PollWaiter`: waking it tells the kernel to
/// poll again. Destroyed when the last holder lets it go.
final class FusePollWaiter: PollWaiter, @unchecked Sendable {
  private let handle: OpaquePointer
  init(_ handle: OpaquePointer) { self.handle = handle }
  func wake() { fuse_lowlevel_notify_poll(handle) }
  deinit { fuse_pollhandle_destroy(handle) }
}
