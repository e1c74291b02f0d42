import Synchronization

/// Async operations, for a file system whose backend is slow (a network, a
/// disk, a remote API): the few operations that wait on it can be written
/// as `async` functions.
///
/// A type adopts `AsyncInodeOperations` or `AsyncFileOperations` (they refine
/// `InodeOperations` and `FileOperations`) and implements the `...Async`
/// methods it needs; each default calls the synchronous operation, so a type
/// writes only what waits. The FUSE bridge serves a request on such an inode
/// in a `Task`: the thread that reads requests goes on serving others while
/// the operation waits, and the reply leaves from wherever the Task ends.
/// Inodes without them (memfs, devfs, proc) are served as before, with no
/// Task and no extra cost. Served in a Task: LOOKUP, GETATTR, OPEN, OPENDIR,
/// READ, WRITE, READDIR and READDIRPLUS. The rest (create, mkdir, unlink,
/// rename, setattr, xattrs, release...) still runs synchronously on the
/// thread that read it, so it must not wait on the backend.
///
/// Cancellation: when the caller is interrupted by a signal (FUSE_INTERRUPT),
/// the Task is cancelled. An operation should stop and throw `.EINTR`
/// (`Task.sleep` throws on cancellation; `Errno.checkCancellation()` helps);
/// whatever a cancelled operation throws, the caller gets EINTR.
///
/// Rules of Swift concurrency hold: the operations run on the cooperative
/// thread pool, so they must never block a thread (no sleeping lock waits,
/// no blocking reads): await instead. The VFS's own synchronous walks (the
/// mount-point search, `vfs/check`, /proc reports) still call the sync
/// operations, whose defaults answer as the kernel's empty slots do.
public protocol AsyncInodeOperations: InodeOperations {
  /// Linux: ->lookup, awaited. The inode `name` names in `dir`, or nil if none.
  func lookupAsync(_ dir: Inode, _ name: FileName) async throws(Errno) -> Inode?
  /// Linux: ->getattr, awaited.
  func getattrAsync(_ inode: Inode) async throws(Errno) -> Stat
}

extension AsyncInodeOperations {
  /// Requests on these are served in a Task.
  public var isAsyncInodeOperations: Bool { true }
  /// Calls the synchronous `lookup`.
  public func lookupAsync(_ dir: Inode, _ name: FileName) async throws(Errno) -> Inode? {
    try lookup(dir, name)
  }
  /// Calls the synchronous `getattr`.
  public func getattrAsync(_ inode: Inode) async throws(Errno) -> Stat {
    try getattr(inode)
  }
}

/// The async file operations (see `AsyncInodeOperations` for the contract).
/// Data moves in arrays: a buffer of the bridge's must not outlive a
/// suspension point it does not control.
public protocol AsyncFileOperations: FileOperations {
  /// Linux: ->open, awaited; runs after the synchronous `open` (whose
  /// default does nothing). May set the File's hints (direct I/O, keep cache)
  /// and private data.
  func openAsync(_ inode: Inode, _ file: File) async throws(Errno)
  /// Linux: ->read, awaited. At most `count` bytes from `offset` (fewer at EOF).
  func readAsync(_ file: File, count: Int, at offset: Int64) async throws(Errno) -> [UInt8]
  /// Linux: ->write, awaited. Returns the bytes written.
  func writeAsync(_ file: File, _ bytes: [UInt8], at offset: Int64) async throws(Errno) -> Int
  /// Linux: ->iterate_shared, awaited: the entries after cookie `offset`, in
  /// order. May return only some (the caller asks again from the last
  /// cookie it used); an empty array is the end of the directory.
  func iterateAsync(_ file: File, from offset: Int64) async throws(Errno) -> [DirEntry]
}

extension AsyncFileOperations {
  /// Requests on these are served in a Task.
  public var isAsyncFileOperations: Bool { true }
  /// Does nothing (the synchronous `open` has run).
  public func openAsync(_ inode: Inode, _ file: File) async throws(Errno) {}
  /// Calls the synchronous `iterate`, for up to `asyncIterateBatch` entries.
  public func iterateAsync(_ file: File, from offset: Int64) async throws(Errno) -> [DirEntry] {
    var entries: [DirEntry] = []
    try iterate(file, from: offset) { entry in
      entries.append(entry)
      return entries.count < asyncIterateBatch
    }
    return entries
  }
  /// Calls the synchronous `read`.
  public func readAsync(_ file: File, count: Int, at offset: Int64) async throws(Errno) -> [UInt8] {
    return try readIntoArray(count: count) { buffer throws(Errno) in
      try read(file, into: buffer, at: offset)
    }
  }
  /// Calls the synchronous `write`.
  public func writeAsync(_ file: File, _ bytes: [UInt8], at offset: Int64) async throws(Errno)
    -> Int
  {
    try writeFromArray(bytes) { buffer throws(Errno) in try write(file, from: buffer, at: offset) }
  }
}

/// Entries the default `iterateAsync` collects per call: about what one
/// READDIR buffer of 4 KiB holds, so little is collected in vain.
let asyncIterateBatch = 128

extension Errno {
  /// Throws EINTR if the current Task was cancelled (the caller was
  /// interrupted): the `Task.checkCancellation()` of an async operation.
  public static func checkCancellation() throws(Errno) {
    if Task.isCancelled { throw .EINTR }
  }
}

/// Whether any inode with async operations was ever made in this process.
/// The bridge reads it first, so a process without one (memfs alone) pays a
/// single atomic load (a plain load on x86) per request and no lookup.
package enum AsyncOperationsInUse {
  static let flag = Atomic<Bool>(false)

  @inline(__always)
  package static var any: Bool { flag.load(ordering: .acquiring) }

  /// Called when an inode with async operations is made.
  static func note() {
    if !flag.load(ordering: .relaxed) { flag.store(true, ordering: .releasing) }
  }
}

extension Inode {
  /// The inode's ops as async ones, if they are.
  var asyncOps: (any AsyncInodeOperations)? {
    hasAsyncInodeOps ? ops as? any AsyncInodeOperations : nil
  }

  /// Whether a request on this inode is served in a Task.
  public var hasAsyncOperations: Bool { hasAsyncInodeOps || hasAsyncFileOps }
}

// MARK: - The VFS side: the same checks as the sync entry points, then await.

extension VFS {
  /// `lookup` for an inode with async ops: the dcache first; on a miss the
  /// awaited ->lookup runs with no lock held (a lock must not be held across
  /// a suspension), then the result is cached under the namespace lock
  /// unless another lookup cached the name first (d_alloc_parallel's race,
  /// settled the simple way: the first entry stays). Adds a lookup.
  public func lookupAsync(_ dir: Inode, _ name: FileName) async throws(Errno) -> Inode {
    guard let ops = dir.asyncOps else { return try lookup(dir, name) }
    guard dir.isDirectory else { throw .ENOTDIR }
    if name.bytes == [0x2e] || name.bytes == [0x2e, 0x2e] { return try lookup(dir, name) }
    switch dcache.lookup(parentIno: dir.ino, name: name) {
    case .positive(let inode):
      let shown = crossMount(inode)
      icache.hold(shown)
      return shown
    case .negative: throw .ENOENT
    case .miss: break
    }
    let found = try await ops.lookupAsync(dir, name)
    let inode = dir.sb.namespaceLock.withReadLock { () -> Inode? in
      switch dcache.lookup(parentIno: dir.ino, name: name) {
      case .positive(let cached): return cached
      case .negative: return nil
      case .miss:
        dcache.add(parentIno: dir.ino, name: name, inode: found)
        return found
      }
    }
    guard let inode else { throw .ENOENT }
    let shown = crossMount(inode)
    icache.hold(shown)
    return shown
  }

  /// `getattr`, awaiting the inode's async ->getattr if it has one.
  public func getattrAsync(_ inode: Inode) async throws(Errno) -> Stat {
    guard let ops = inode.asyncOps else { return try getattr(inode) }
    return try await ops.getattrAsync(inode)
  }

  /// `read`, awaiting the file's async ->read if it has one.
  public func readAsync(_ file: File, count: Int, at offset: Int64) async throws(Errno) -> [UInt8] {
    guard file.isReadable else { throw .EBADF }
    guard offset >= 0, count >= 0 else { throw .EINVAL }
    if let ops = file.fileOps as? any AsyncFileOperations {
      let bytes = try await ops.readAsync(file, count: count, at: offset)
      return bytes.count > count ? Array(bytes.prefix(count)) : bytes
    }
    return try readIntoArray(count: count) { buffer throws(Errno) in
      try read(file, into: buffer, at: offset)
    }
  }

  /// `open`, then the file's async ->open if it has one (the File is given
  /// back if that fails). The kernel's cache hints follow the atime rule of
  /// the synchronous `open`.
  public func openAsync(_ inode: Inode, flags: Int32, cred: Cred) async throws(Errno) -> (
    UInt64, File
  ) {
    let (fh, file) = try open(inode, flags: flags, cred: cred)
    guard let ops = file.fileOps as? any AsyncFileOperations else { return (fh, file) }
    do throws(Errno) {
      try await ops.openAsync(inode, file)
    } catch {
      release(fh)
      throw error
    }
    if file.isReadable, file.keepCache || file.cacheDirectory, inode.atimeWouldUpdate() {
      file.keepCache = false
      file.cacheDirectory = false
    }
    return (fh, file)
  }

  /// `readdir`, awaiting the file's async ->iterate if it has one: a batch
  /// of entries after `offset`, covered mount points showing the mounted
  /// root, and atime moved as `readdir` does.
  public func readdirAsync(_ file: File, from offset: Int64) async throws(Errno) -> [DirEntry] {
    guard offset >= 0 else { throw .EINVAL }
    guard let ops = file.fileOps as? any AsyncFileOperations else {
      var entries: [DirEntry] = []
      try readdir(file, from: offset) { entry in
        entries.append(entry)
        return entries.count < asyncIterateBatch
      }
      return entries
    }
    var entries = try await ops.iterateAsync(file, from: offset)
    for i in entries.indices {
      guard let inode = entries[i].inode, inode.isDirectory else { continue }
      let shown = crossMount(inode)
      if shown !== inode {
        entries[i].inode = shown
        entries[i].ino = shown.ino
      }
    }
    file.inode.lock.withLock { file.inode.touchAtimeLocked() }
    return entries
  }

  /// `write`, awaiting the file's async ->write if it has one.
  public func writeAsync(_ file: File, _ bytes: [UInt8], at offset: Int64) async throws(Errno)
    -> Int
  {
    guard file.isWritable else { throw .EBADF }
    guard offset >= 0 else { throw .EINVAL }
    if let ops = file.fileOps as? any AsyncFileOperations {
      return try await ops.writeAsync(file, bytes, at: offset)
    }
    return try writeFromArray(bytes) { buffer throws(Errno) in
      try write(file, from: buffer, at: offset)
    }
  }
}

/// A sync read into a new array of `count` bytes, cut to what was read.
func readIntoArray(
  count: Int, _ read: (UnsafeMutableRawBufferPointer) throws(Errno) -> Int
) throws(Errno) -> [UInt8] {
  var bytes = [UInt8](repeating: 0, count: count)
  let result = bytes.withUnsafeMutableBytes { buffer in
    Result { () throws(Errno) -> Int in try read(buffer) }
  }
  let n = try result.get()
  bytes.removeSubrange(max(0, min(n, count))...)
  return bytes
}

/// A sync write from an array's bytes.
func writeFromArray(
  _ bytes: [UInt8], _ write: (UnsafeRawBufferPointer) throws(Errno) -> Int
) throws(Errno) -> Int {
  try bytes.withUnsafeBytes { buffer in Result { () throws(Errno) -> Int in try write(buffer) } }
    .get()
}
