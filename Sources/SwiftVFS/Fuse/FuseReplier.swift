import CFuse
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// One request as the bridge sees it: who asked (credentials, groups), and
/// the one reply it gets. The bridge speaks libfuse's C vocabulary
/// (`fuse_entry_param`, `stat`, `fuse_file_info`); each transport turns
/// it into the kernel's wire format: libfuse through its `fuse_reply_*`
/// calls, the native engine (Engine/) with the Protocol encoder.
///
/// Like libfuse's replies, each `reply` returns 0 or a negative errno (the
/// kernel no longer waits for this request: an entry reply's lookup must
/// then be given back).
struct FuseReplier: @unchecked Sendable {
  /// Where the reply goes.
  enum Transport {
    /// libfuse's request, answered by `fuse_reply_*` (which frees it).
    case libfuse(fuse_req_t?)
    /// A request read by the native engine from its /dev/fuse descriptor.
    case native(FuseChannelRequest)
  }

  let transport: Transport

  /// A request libfuse read.
  init(_ req: fuse_req_t?) { transport = .libfuse(req) }

  /// A request the native engine read.
  init(native request: FuseChannelRequest) { transport = .native(request) }

  // MARK: - Who asked

  /// The caller's credentials (fsuid, fsgid, pid, and the umask libfuse
  /// sets for create, mkdir and mknod).
  var cred: Cred {
    switch transport {
    case .libfuse(let req):
      guard let ctx = fuse_req_ctx(req) else { return .root }
      var cred = Cred(uid: ctx.pointee.uid, gid: ctx.pointee.gid, pid: ctx.pointee.pid)
      cred.umask = UInt32(ctx.pointee.umask)  // set by libfuse for create, mkdir, mknod
      return cred
    case .native(let request):
      var cred = Cred(uid: request.uid, gid: request.gid, pid: Int32(bitPattern: request.pid))
      cred.umask = request.umask
      // With FUSE_ALLOW_IDMAP only requests that create an inode name the caller.
      if request.uid == FuseCallerCreds.invalid || request.gid == FuseCallerCreds.invalid {
        FuseCallerCreds.fill(&cred, pid: request.pid)
      }
      return cred
    }
  }

  /// The caller's supplementary groups (read from /proc/PID/status, as
  /// libfuse's fuse_req_getgroups() does).
  var groups: [UInt32] {
    switch transport {
    case .libfuse(let req):
      var list = [gid_t](repeating: 0, count: 64)
      let n = fuse_req_getgroups(req, Int32(list.count), &list)
      return n > 0 ? Array(list.prefix(Int(min(n, Int32(list.count))))) : []
    case .native(let request):
      return FuseCallerGroups.of(pid: request.pid)
    }
  }

  // MARK: - Interrupts

  /// Registers `callback` for a FUSE_INTERRUPT of this request (called at
  /// once if one came already), or unregisters it (nil). After the
  /// unregistering call returns, the callback runs no more.
  func onInterrupt(_ callback: (@Sendable () -> Void)?) {
    switch transport {
    case .libfuse(let req):
      guard let callback else {
        fuse_req_interrupt_func(req, nil, nil)
        FuseInterruptCallbacks.release(req)
        return
      }
      let box = FuseInterruptCallbacks.retain(req, callback)
      fuse_req_interrupt_func(
        req,
        { _, data in
          guard let data else { return }
          Unmanaged<FuseInterruptCallbacks.Box>.fromOpaque(data).takeUnretainedValue().callback()
        }, box)
    case .native(let request):
      request.onInterrupt(callback)
    }
  }

  // MARK: - Holding a request

  /// Whether this request may stay unanswered on a worker while it waits for
  /// the kernel (an O_DIRECT write waiting for a page drop, whose pages wait
  /// for READs of their own). Always on /dev/fuse, where any thread reads
  /// the next request. On an io_uring entry only while its queue keeps
  /// enough entries to fetch the requests the wait depends on
  /// (FuseUringQueue.tryHold); the entry's reply gives the hold back.
  func mayHoldWhileWaiting() -> Bool {
    switch transport {
    case .libfuse: return true
    case .native(let request): return FuseUringRoutes.tryHold(request.fd)
    }
  }

  // MARK: - Replies

  /// An error reply, or success with no body for `error` 0 (UNLINK, FLUSH ...).
  @discardableResult
  func reply(error: Int32) -> Int32 {
    switch transport {
    case .libfuse(let req): return fuse_reply_err(req, error)
    case .native(let request): return request.replyError(error)
    }
  }

  /// No reply at all (FORGET, BATCH_FORGET): only frees the request.
  func replyNone() {
    switch transport {
    case .libfuse(let req): fuse_reply_none(req)
    case .native: break
    }
  }

  /// An entry (LOOKUP, MKNOD, MKDIR, SYMLINK, LINK); node id 0 is a negative entry.
  @discardableResult
  func reply(entry e: inout fuse_entry_param) -> Int32 {
    switch transport {
    case .libfuse(let req): return fuse_reply_entry(req, &e)
    case .native(let request): return request.replyEntry(e)
    }
  }

  /// CREATE: an entry and an open file.
  @discardableResult
  func reply(create e: inout fuse_entry_param, _ fi: UnsafePointer<fuse_file_info>) -> Int32 {
    switch transport {
    case .libfuse(let req): return fuse_reply_create(req, &e, fi)
    case .native(let request): return request.replyCreate(e, fi.pointee)
    }
  }

  /// Attributes (GETATTR, SETATTR) valid for `timeout` seconds.
  @discardableResult
  func reply(attr st: inout stat, timeout: Double) -> Int32 {
    switch transport {
    case .libfuse(let req): return fuse_reply_attr(req, &st, timeout)
    case .native(let request): return request.replyAttr(st, timeout: timeout)
    }
  }

  /// A symlink's target, NUL-terminated (the NUL is not sent).
  @discardableResult
  func reply(readlink target: UnsafePointer<CChar>) -> Int32 {
    switch transport {
    case .libfuse(let req): return fuse_reply_readlink(req, target)
    case .native(let request):
      return request.replyData(UnsafeRawBufferPointer(start: target, count: strlen(target)))
    }
  }

  /// OPEN and OPENDIR: the handle and FOPEN_* flags from `fi`.
  @discardableResult
  func reply(open fi: UnsafePointer<fuse_file_info>) -> Int32 {
    switch transport {
    case .libfuse(let req): return fuse_reply_open(req, fi)
    case .native(let request): return request.replyOpen(fi.pointee)
    }
  }

  /// WRITE: the bytes written.
  @discardableResult
  func reply(write count: Int) -> Int32 {
    switch transport {
    case .libfuse(let req): return fuse_reply_write(req, count)
    case .native(let request): return request.replyWrite(count)
    }
  }

  /// Data (READ, READDIR, xattr values).
  @discardableResult
  func reply(data: UnsafeRawPointer?, count: Int) -> Int32 {
    switch transport {
    case .libfuse(let req):
      return fuse_reply_buf(req, data?.assumingMemoryBound(to: CChar.self), count)
    case .native(let request):
      return request.replyData(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : count))
    }
  }

  /// Data in pieces, sent with one writev.
  @discardableResult
  func reply(iov: inout [iovec]) -> Int32 {
    switch transport {
    case .libfuse(let req): return fuse_reply_iov(req, &iov, Int32(iov.count))
    case .native(let request): return request.replyIov(iov)
    }
  }

  /// STATFS.
  @discardableResult
  func reply(statfs v: inout statvfs) -> Int32 {
    switch transport {
    case .libfuse(let req): return fuse_reply_statfs(req, &v)
    case .native(let request): return request.replyStatfs(v)
    }
  }

  /// GETXATTR or LISTXATTR asked with size 0: the size needed.
  @discardableResult
  func reply(xattrSize: Int) -> Int32 {
    switch transport {
    case .libfuse(let req): return fuse_reply_xattr(req, xattrSize)
    case .native(let request): return request.replyXattrSize(xattrSize)
    }
  }

  /// LSEEK: the new offset.
  @discardableResult
  func reply(lseek offset: off_t) -> Int32 {
    switch transport {
    case .libfuse(let req): return fuse_reply_lseek(req, offset)
    case .native(let request): return request.replyLseek(Int64(offset))
    }
  }

  /// IOCTL: its result and output bytes.
  @discardableResult
  func reply(ioctl result: Int32, _ output: UnsafeRawPointer?, _ count: Int) -> Int32 {
    switch transport {
    case .libfuse(let req): return fuse_reply_ioctl(req, result, output, count)
    case .native(let request):
      return request.replyIoctl(
        result, UnsafeRawBufferPointer(start: output, count: output == nil ? 0 : count))
    }
  }

  /// POLL: the events ready.
  @discardableResult
  func reply(poll events: UInt32) -> Int32 {
    switch transport {
    case .libfuse(let req): return fuse_reply_poll(req, events)
    case .native(let request): return request.replyPoll(events)
    }
  }

  // MARK: - Directory buffers

  /// Adds one READDIR entry to `buffer` and returns its size (larger than
  /// `remaining` when it does not fit; nothing is written then). The
  /// format is the kernel's `struct fuse_dirent`; libfuse's builder does
  /// not use the request, so both transports share it.
  func addDirentry(
    _ buffer: UnsafeMutablePointer<CChar>, _ remaining: Int, _ name: UnsafePointer<CChar>,
    _ st: inout stat, _ offset: off_t
  ) -> Int {
    fuse_add_direntry(nil, buffer, remaining, name, &st, offset)
  }

  /// Adds one READDIRPLUS entry (`struct fuse_direntplus`), as `addDirentry`.
  func addDirentryPlus(
    _ buffer: UnsafeMutablePointer<CChar>, _ remaining: Int, _ name: UnsafePointer<CChar>,
    _ e: inout fuse_entry_param, _ offset: off_t
  ) -> Int {
    fuse_add_direntry_plus(nil, buffer, remaining, name, &e, offset)
  }
}

/// The interrupt callbacks registered with libfuse, kept alive until
/// unregistered (libfuse holds only a raw pointer).
///
/// Locking: `lock` guards `boxes`.
enum FuseInterruptCallbacks {
  final class Box {
    let callback: @Sendable () -> Void
    init(_ callback: @escaping @Sendable () -> Void) { self.callback = callback }
  }
  private static let lock = Lock()
  nonisolated(unsafe) private static var boxes: [UnsafeMutableRawPointer: Box] = [:]

  static func retain(_ req: fuse_req_t?, _ callback: @escaping @Sendable () -> Void)
    -> UnsafeMutableRawPointer
  {
    let box = Box(callback)
    lock.withLock { if let req { boxes[UnsafeMutableRawPointer(req)] = box } }
    return Unmanaged.passUnretained(box).toOpaque()
  }

  static func release(_ req: fuse_req_t?) {
    guard let req else { return }
    _ = lock.withLock { boxes.removeValue(forKey: UnsafeMutableRawPointer(req)) }
  }
}

/// A caller's supplementary groups from /proc/PID/status ("Groups:"), as
/// libfuse's fuse_req_getgroups() reads them; empty if the process is gone.
enum FuseCallerGroups {
  static func of(pid: UInt32) -> [UInt32] {
    ProcessStatus.fields(pid: pid, ["Groups:"])["Groups:"] ?? []
  }
}

/// Numeric fields of /proc/PID/status: for each label asked ("Uid:",
/// "Groups:" ...), the numbers on its line. Labels the file lacks, or a
/// process already gone (or pid 0), are left out.
enum ProcessStatus {
  static func fields(pid: UInt32, _ labels: Set<String>) -> [String: [UInt32]] {
    guard pid != 0, let f = fopen("/proc/\(pid)/status", "r") else { return [:] }
    defer { fclose(f) }
    var line: UnsafeMutablePointer<CChar>?
    var capacity = 0
    defer { free(line) }
    var found: [String: [UInt32]] = [:]
    while found.count < labels.count, getline(&line, &capacity, f) > 0 {
      guard let line else { break }
      let text = String(cString: line)
      guard let label = text.split(separator: "\t", maxSplits: 1).first.map(String.init),
        labels.contains(label)
      else { continue }
      found[label] = text.dropFirst(label.count)
        .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        .compactMap { UInt32($0) }
    }
    return found
  }
}
