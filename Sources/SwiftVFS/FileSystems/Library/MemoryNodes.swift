import SwiftVFSCore

/// memfs's regular file, in any file system: a writable in-memory file
/// (read, write, O_APPEND, truncate, fallocate, SEEK_DATA/SEEK_HOLE, user
/// xattrs), with memfs's own operation tables, in a superblock of yours
/// (like go-fuse's `MemRegularFile`, or shmem_file_setup() in the kernel).
///
/// Its `privateData` holds the pages: set no payload on it.
///
/// Its pages are counted against your superblock's `maxBlocks` (ENOSPC past
/// it). When such an inode is evicted, call `MemoryFile.evict(_:)` from your
/// `SuperOperations.evictInode` to give its blocks back; without that the
/// memory is still freed, but the superblock's block count (statfs) is not
/// lowered. `TreeSuperOperations` does this (use it as your superblock's
/// operations, or call it from yours).
public enum MemoryFile {
  /// A new, writable regular file in `sb` holding `contents`, mode `0644`
  /// unless told, owned by `cred`. ENOSPC if the superblock's limits say so.
  public static func inode(
    in sb: SuperBlock, contents: [UInt8] = [], mode: UInt32 = 0o644, cred: Cred = .root
  ) throws(Errno) -> Inode {
    let inode = try Memfs.newInode(
      sb, mode: FileType.regular.rawValue | mode & ModeBits.permissions, cred: cred)
    if !contents.isEmpty {
      try inode.lock.withLock { () throws(Errno) in
        let store = Memfs.pages(inode)
        let n = try contents.withUnsafeBytes { buffer in
          Result { () throws(Errno) in try store.write(from: buffer, at: 0, sb: sb) }
        }.get()
        inode.size = Int64(n)
        inode.blocks = Int64(store.pageCount) * 8
      }
    }
    return inode
  }

  /// Whether `inode` is a memfs regular file (made here, or by memfs).
  public static func isMemoryFile(_ inode: Inode) -> Bool {
    inode.type == .regular && inode.ops is MemfsFileOperations
  }

  /// Frees a memory file's pages and gives their blocks back to its
  /// superblock (shmem_evict_inode()); does nothing for any other inode.
  /// Call it from your `evictInode`; it does not release the inode's slot
  /// (`sb.releaseInode()` stays your evictInode's job).
  public static func evict(_ inode: Inode) {
    guard isMemoryFile(inode) else { return }
    inode.lock.withLock {
      Memfs.pages(inode).freeAll(sb: inode.sb)
      inode.blocks = 0
    }
  }
}

/// memfs's directory, in any file system: a writable in-memory directory
/// (create, mkdir, mknod, symlink, link, unlink, rmdir, rename, user
/// xattrs, stable readdir cookies) with memfs's own operation tables, in a
/// superblock of yours. What is made inside it is made by memfs: memory
/// files, memory directories, symlinks, device nodes.
///
/// Its `privateData` holds the entries: set no payload on it.
///
/// `add` puts an inode of yours (a `ReadOnlyFile`, a `StaticDirectory`...)
/// in it while you build the tree; users may then rename or remove it as
/// any entry.
///
/// What it does not do: rename and link stay inside one superblock (EXDEV
/// otherwise, as the VFS answers); a directory of yours placed inside keeps
/// its own rules.
public enum MemoryDirectory {
  /// A new, empty, writable directory in `sb`, mode `0755` unless told,
  /// owned by `cred`.
  public static func inode(in sb: SuperBlock, mode: UInt32 = 0o755, cred: Cred = .root)
    throws(Errno) -> Inode
  {
    try Memfs.newInode(
      sb, mode: FileType.directory.rawValue | mode & ModeBits.permissions, cred: cred)
  }

  /// Whether `inode` is a memfs directory (made here, or by memfs).
  public static func isMemoryDirectory(_ inode: Inode) -> Bool {
    inode.isDirectory && inode.ops is MemfsDirectoryOperations
  }

  /// Adds `child` to the memory directory `dir` under `name`, as a create
  /// would (link count, size, times). EINVAL for a bad name or a `dir` that
  /// is not a memory directory, EEXIST for a name taken, EXDEV for a child
  /// of another superblock. Meant for building a tree before it is shown:
  /// it does not tell the kernel's caches.
  public static func add(_ child: Inode, named name: FileName, to dir: Inode) throws(Errno) {
    guard isMemoryDirectory(dir) else { throw .EINVAL }
    guard child.sb === dir.sb else { throw .EXDEV }
    let name = try FileName.validated(name.bytes)
    guard !name.isDotOrDotDot else { throw .EINVAL }
    try dir.sb.namespaceLock.withWriteLock { () throws(Errno) in
      let entries = Memfs.directory(dir)
      guard entries.lookup(name) == nil else { throw .EEXIST }
      entries.insert(name, child)
      if child.isDirectory { child.parentDirectory = dir }
      dir.lock.withLock {
        if child.isDirectory { dir.nlink += 1 }
        dir.size += Memfs.direntSize
        dir.touchModified()
      }
    }
  }
}
