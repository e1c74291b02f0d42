import SwiftVFSCore

/// A read-only directory from a fixed list of entries (like the kernel's
/// simple_dir_operations with a fixed tree, and go-fuse's persistent inodes).
///
/// Entries are added while the tree is built (`add`), before it is mounted
/// or shown to anyone; after that the list never changes. A listing shows
/// ".", ".." and the entries in the order added; the cookie of entry `i` is
/// `i + 3` ("." is 1, ".." is 2), so cookies stay valid for the life of the
/// directory and a listing resumed anywhere lists each entry once. `lookup`
/// finds a name in the list.
///
/// Changing it answers as the kernel does for a directory without those
/// slots: create is EACCES, mkdir, mknod, symlink, link, unlink, rmdir and
/// rename are EPERM; chmod and chown are EPERM (as proc_setattr()); times
/// may be set. The kernel may cache its listing and its entries.
///
/// What it does not do: it keeps no entries added after mount in step with
/// the kernel's caches (add none then), and has no xattrs (EOPNOTSUPP).
public struct StaticDirectory: InodeOperations, FileOperations {
  /// The entries, filled while building; guarded by its lock.
  final class Table: @unchecked Sendable {
    let lock = Lock()
    var names: [FileName] = []
    var inodes: [Inode] = []
    var index: [FileName: Int] = [:]
  }
  let table = Table()

  /// A new empty directory's tables (use `inode(in:)` to make its inode).
  public init() {}

  /// A new directory inode in `sb` with new tables, mode `0555` unless told,
  /// owned by `cred`.
  public static func inode(in sb: SuperBlock, mode: UInt32 = 0o555, cred: Cred = .root)
    throws(Errno) -> Inode
  {
    let ops = StaticDirectory()
    return try sb.newInode(
      mode: FileType.directory.rawValue | mode & ModeBits.permissions, cred: cred, ops: ops,
      fileOps: ops)
  }

  /// Adds `child` to the directory `dir` (which must have StaticDirectory
  /// tables) under `name`: EINVAL for a bad name ("/", NUL, ".", "..",
  /// empty, over 255 bytes) or a `dir` that is not a StaticDirectory,
  /// EEXIST for a name taken, EXDEV for a child of another superblock. A
  /// child directory gets `dir` as its parent (its "..").
  public static func add(_ child: Inode, named name: FileName, to dir: Inode) throws(Errno) {
    guard let ops = dir.ops as? StaticDirectory else { throw .EINVAL }
    guard child.sb === dir.sb else { throw .EXDEV }
    let name = try FileName.validated(name.bytes)
    guard !name.isDotOrDotDot else { throw .EINVAL }
    try ops.table.lock.withLock { () throws(Errno) in
      guard ops.table.index[name] == nil else { throw .EEXIST }
      ops.table.index[name] = ops.table.names.count
      ops.table.names.append(name)
      ops.table.inodes.append(child)
    }
    if child.isDirectory {
      child.parentDirectory = dir
      dir.lock.withLock { dir.nlink += 1 }
    }
  }

  /// The entries, in order.
  public var entries: [(name: FileName, inode: Inode)] {
    table.lock.withLock { Array(zip(table.names, table.inodes)) }
  }

  // MARK: Inode operations

  /// The entry named `name`, or nil.
  public func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? {
    table.lock.withLock { table.index[name].map { table.inodes[$0] } }
  }

  /// Times may change; mode and owner are EPERM, the size EISDIR (checked
  /// by the VFS before).
  public func setattr(_ inode: Inode, _ attr: SetAttr, cred: Cred) throws(Errno) {
    if attr.mode != nil || attr.uid != nil || attr.gid != nil { throw .EPERM }
    if attr.size != nil { throw .EISDIR }
    inode.lock.withLock { Simple.applyLocked(inode, attr) }
  }

  // MARK: File operations

  /// The listing never changes, so the kernel may keep it.
  public func open(_ inode: Inode, _ file: File) throws(Errno) {
    file.cacheDirectory = true
  }

  /// Like dcache_readdir(): ".", "..", then the entries after cookie `offset`.
  public func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno) {
    guard Simple.emitDots(file, from: offset, emit) else { return }
    let all = entries
    var i = Int(max(offset - 2, 0))
    while i < all.count {
      let (name, inode) = all[i]
      let entry = DirEntry(
        name: name, ino: inode.ino, type: inode.type, offset: Int64(i) + 3, inode: inode)
      guard emit(entry) else { return }
      i += 1
    }
  }

  /// Nothing to write back.
  public func fsync(_ file: File, dataOnly: Bool) throws(Errno) {}
}
