import CFuse
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// Requests on inodes with async operations (AsyncOperations.swift), each
/// served in a `Task`.
///
/// The thread that read the request starts the Task and goes back to reading
/// at once; the Task awaits the file system and replies from whatever thread
/// it ends on (libfuse allows a reply from any thread). A FUSE_INTERRUPT for
/// the request (the caller got a signal) cancels the Task, and a cancelled
/// Task that fails replies EINTR. Other inodes never get here: the bridge
/// asks `asyncInode`/`asyncFile` first, which cost one atomic load in a
/// process that has no async inode at all.
extension FuseBridge {
  /// The inode `ino`, if requests on it are served in a Task.
  @inline(__always)
  func asyncInode(_ ino: UInt64) -> Inode? {
    guard AsyncOperationsInUse.any, let inode = try? node(ino), inode.hasAsyncInodeOps
    else { return nil }
    return inode
  }

  /// The inode `ino`, if opening it is served in a Task.
  @inline(__always)
  func asyncFileInode(_ ino: UInt64) -> Inode? {
    guard AsyncOperationsInUse.any, let inode = try? node(ino), inode.hasAsyncFileOps
    else { return nil }
    return inode
  }

  /// The open file `handle`, if reads and writes on it are served in a Task.
  @inline(__always)
  func asyncFile(_ handle: UInt64?) -> File? {
    guard AsyncOperationsInUse.any, let handle, let file = try? vfs.file(handle),
      file.fileOps.isAsyncFileOperations
    else { return nil }
    return file
  }

  /// What an async request answers: the inode it served (for the request
  /// table) and the success reply, sent once the interrupt callback is off.
  struct AsyncReply {
    var inode: Inode?
    var send: (FuseReplier) -> Void
  }

  /// Like `serve`, in a Task: runs `body`, replies its success or its errno
  /// (EINTR if the Task was cancelled), records the request.
  func serveAsync(
    _ req: FuseReplier, _ opcode: FuseOpcode, _ ino: UInt64, detail: String,
    _ body: @escaping @Sendable () async throws(Errno) -> AsyncReply
  ) {
    let request = FuseAsyncRequest(req)
    asyncRequests.add(request)
    request.start { [self] in
      let start = FuseBridge.monotonicNanos()
      var reply: AsyncReply?
      var failure: Errno?
      do throws(Errno) {
        reply = try await body()
      } catch {
        failure = Task.isCancelled ? .EINTR : error
      }
      // From here on libfuse calls the interrupt callback no more, and the
      // request may be answered (which frees it).
      request.detach()
      if let reply {
        reply.send(request.req)
      } else {
        request.req.reply(error: (failure ?? .EIO).rawValue)
      }
      finish(
        opcode, ino, detail: detail, served: reply?.inode, failure: failure, start: start)
      asyncRequests.remove(request)
    }
  }

  func lookupAsync(_ req: FuseReplier, _ dir: Inode, _ namePtr: UnsafePointer<CChar>?) {
    let name: FileName
    do throws(Errno) { name = try FuseAttributes.name(namePtr) } catch {
      req.reply(error: error.rawValue)
      return
    }
    serveAsync(
      req, .lookup, nodeIDs.nodeID(ofIno: dir.ino),
      detail: String(decoding: name.bytes, as: UTF8.self)
    ) {
      [self] () throws(Errno) -> AsyncReply in
      let inode: Inode
      do throws(Errno) {
        inode = try await vfs.lookupAsync(dir, name)
      } catch  where error == .ENOENT {
        let timeout = options.entryTimeout
        return AsyncReply(inode: dir) { req in
          // A negative entry the kernel may cache for entry_timeout.
          var e = fuse_entry_param()
          e.entry_timeout = timeout
          req.reply(entry: &e)
        }
      }
      let st: Stat
      do throws(Errno) { st = try await vfs.getattrAsync(inode) } catch {
        vfs.forget(inode.ino, count: 1)
        throw error
      }
      return AsyncReply(inode: inode) { [self] req in
        var e = entryParam(inode, stat: st)
        if req.reply(entry: &e) != 0 { vfs.forget(inode.ino, count: 1) }
      }
    }
  }

  func getattrAsync(_ req: FuseReplier, _ inode: Inode) {
    serveAsync(req, .getattr, nodeIDs.nodeID(ofIno: inode.ino), detail: "") {
      [self] () throws(Errno) -> AsyncReply in
      let st = try await vfs.getattrAsync(inode)
      return AsyncReply(inode: inode) { [self] req in
        var attr = attributes(st)
        req.reply(attr: &attr, timeout: options.attrTimeout)
      }
    }
  }

  func readAsync(_ req: FuseReplier, _ file: File, _ size: Int, _ offset: off_t) {
    serveAsync(
      req, .read, nodeIDs.nodeID(ofIno: file.inode.ino), detail: "off=\(offset) size=\(size)"
    ) {
      [self] () throws(Errno) -> AsyncReply in
      guard offset >= 0 else { throw .EINVAL }
      let bytes = try await vfs.readAsync(file, count: size, at: Int64(offset))
      return AsyncReply(inode: file.inode) { req in
        bytes.withUnsafeBytes { _ = req.reply(data: $0.baseAddress, count: $0.count) }
      }
    }
  }

  func writeAsync(_ req: FuseReplier, _ file: File, _ bytes: [UInt8], _ offset: off_t) {
    // As the sync write does, before the data changes.
    vfs.killPrivileges(file.inode, cred: FuseBridge.cred(req)) { FuseBridge.groups(req) }
    serveAsync(
      req, .write, nodeIDs.nodeID(ofIno: file.inode.ino),
      detail: "off=\(offset) size=\(bytes.count)"
    ) {
      [self] () throws(Errno) -> AsyncReply in
      guard offset >= 0 else { throw .EINVAL }
      let n = try await vfs.writeAsync(file, bytes, at: Int64(offset))
      return AsyncReply(inode: file.inode) { req in _ = req.reply(write: n) }
    }
  }
  /// OPEN and OPENDIR. libfuse's `fuse_file_info` lives on the loop
  /// thread's stack only during the call: the Task answers with a copy.
  func openAsync(
    _ req: FuseReplier, _ inode: Inode, _ fi: UnsafeMutablePointer<fuse_file_info>?,
    directory: Bool
  ) {
    guard let fi else {
      req.reply(error: Errno.EINVAL.rawValue)
      return
    }
    let info = SendableFileInfo(value: fi.pointee)
    let flags =
      directory ? info.value.flags & ~OpenFlags.accessMode : openFlags(info.value.flags)
    let cred = FuseBridge.cred(req)
    let groups = FuseBridge.groups(req)
    serveAsync(
      req, directory ? .opendir : .open, nodeIDs.nodeID(ofIno: inode.ino),
      detail: "flags=0o\(String(info.value.flags, radix: 8))"
    ) { [self] () throws(Errno) -> AsyncReply in
      if directory, !inode.isDirectory { throw .ENOTDIR }
      let (fh, file) = try await vfs.openAsync(inode, flags: flags, cred: cred)
      if !directory, info.value.flags & OpenFlags.truncate != 0, file.isWritable {
        // As the sync open: FUSE_ATOMIC_O_TRUNC skips the SETATTR that clears them.
        vfs.killPrivileges(inode, cred: cred) { groups }
      }
      return AsyncReply(inode: inode) { [self] req in
        var reply = info.value
        if directory {
          reply.fh = fh
          reply.cache_readdir = file.cacheDirectory ? 1 : 0
          reply.keep_cache = file.cacheDirectory ? 1 : 0
        } else {
          fillOpen(&reply, fh, file)
        }
        if req.reply(open: &reply) != 0 { vfs.release(fh) }
      }
    }
  }

  /// READDIR and READDIRPLUS: the batch is fetched in the Task, then packed
  /// into one buffer as the sync `readdir` does (a lookup for each
  /// readdirplus entry that fits).
  func readdirAsync(_ req: FuseReplier, _ file: File, _ size: Int, _ offset: off_t, plus: Bool) {
    serveAsync(
      req, plus ? .readdirplus : .readdir, nodeIDs.nodeID(ofIno: file.inode.ino),
      detail: "off=\(offset) size=\(size)"
    ) { [self] () throws(Errno) -> AsyncReply in
      let entries = try await vfs.readdirAsync(file, from: Int64(offset))
      var stats: [Stat?] = []
      if plus {
        for entry in entries {
          var st: Stat?
          // "." and ".." take no lookup (see FuseBridge.readdir).
          // An inode the kernel holds goes without attributes (see FuseBridge.readdir).
          if let inode = entry.inode, !entry.name.isDotOrDotDot, !vfs.kernelHolds(inode) {
            st = try? await vfs.getattrAsync(inode)
          }
          stats.append(st)
        }
      }
      return AsyncReply(inode: file.inode) { [self] req in
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(size, 1))
        defer { buffer.deallocate() }
        var used = 0
        for (i, entry) in entries.enumerated() {
          guard
            let n = addDirentry(
              req, buffer + used, size - used, entry, plus: plus, stat: plus ? stats[i] : nil)
          else { break }
          used += n
        }
        req.reply(data: buffer, count: used)
      }
    }
  }
}

/// A copy of libfuse's `fuse_file_info` carried into a Task (plain data).
struct SendableFileInfo: @unchecked Sendable {
  var value: fuse_file_info
}

/// One request served in a Task, and the link from libfuse's interrupt
/// callback to that Task.
///
/// Locking: `lock` guards `task` and `interrupted`. libfuse calls the
/// callback under the request's own lock, which `detach` takes too, so no
/// callback runs after `detach` returns.
final class FuseAsyncRequest: @unchecked Sendable {
  let req: FuseReplier
  private let lock = Lock()
  private var task: Task<Void, Never>?
  private var interrupted = false

  init(_ req: FuseReplier) { self.req = req }

  /// Registers the interrupt callback (which is called at once if the
  /// interrupt came already), then starts the Task.
  func start(_ body: @escaping @Sendable () async -> Void) {
    req.onInterrupt { [self] in interrupt() }
    let task = Task { await body() }
    let cancelNow = lock.withLock {
      self.task = task
      return interrupted
    }
    if cancelNow { task.cancel() }
  }

  /// FUSE_INTERRUPT, or teardown: cancels the Task.
  func interrupt() {
    let task = lock.withLock {
      interrupted = true
      return self.task
    }
    task?.cancel()
  }

  /// Unregisters the interrupt callback; call before the reply.
  func detach() { req.onInterrupt(nil) }
}

/// The async requests in flight, so that teardown can cancel them and wait
/// for their replies before the session is destroyed.
///
/// Locking: `lock` guards `inFlight`.
final class FuseAsyncRequests: @unchecked Sendable {
  private let lock = Lock()
  private var inFlight: [ObjectIdentifier: FuseAsyncRequest] = [:]

  func add(_ request: FuseAsyncRequest) {
    lock.withLock { inFlight[ObjectIdentifier(request)] = request }
  }

  func remove(_ request: FuseAsyncRequest) {
    _ = lock.withLock { inFlight.removeValue(forKey: ObjectIdentifier(request)) }
  }

  /// Cancels every request in flight and waits (up to `seconds`) for them
  /// to reply. True if none is left.
  @discardableResult
  func drain(seconds: Int) -> Bool {
    for _ in 0..<(seconds * 50) {
      let pending = lock.withLock { Array(inFlight.values) }
      if pending.isEmpty { return true }
      for request in pending { request.interrupt() }
      usleep(20_000)
    }
    return lock.withLock { inFlight.isEmpty }
  }
}
