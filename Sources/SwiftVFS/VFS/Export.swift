#if canImport(Glibc)
  import Glibc
#endif

/// File handles (name_to_handle_at, open_by_handle_at, an NFS re-export): the
/// daemon's half of the kernel's fs/fuse/inode.c export operations.
///
/// The kernel encodes a handle as the FUSE node id and the generation
/// (fuse_encode_fh()); node ids here are inode numbers. To decode it, the
/// kernel looks for the node id in its own inode cache; if it has forgotten
/// the inode (drop_caches, memory pressure, a remounted client) it sends
/// LOOKUP of "." on that id (fuse_get_dentry()), compares the generation of
/// the reply with the handle's, and to reconnect a directory sends LOOKUP of
/// ".." on it (fuse_get_parent()). So both must work on any inode that still
/// lives, whether or not the kernel holds it:
/// - a file system whose inodes live in memory (memfs, proc) has each
///   superblock keep an index of its live inodes (`SuperBlock.liveInode`);
///   numbers are never reused, and an evicted inode is ESTALE, as a deleted
///   file's handle is on tmpfs;
/// - a disk file system (ext2) numbers its inodes itself
///   (`SuperBlock.useOwnInodeNumbers`) and loads the inode again from the
///   disk: `SuperOperations.inodeForHandle` and `parentForHandle`, the
///   kernel's `struct export_operations` (ext2_nfs_get_inode(),
///   ext2_get_parent()). A freed number is ESTALE, or names a new inode
///   whose other generation the kernel refuses (ESTALE too).
extension VFS {
  package static let staleHandle = Errno(Glibc.ESTALE)

  /// Like exportfs's fh_to_dentry()/get_parent(): the inode `ino` names (".")
  /// or its parent directory (".."), with one lookup added for the kernel.
  public func exportLookup(_ ino: UInt64, _ name: FileName) throws(Errno) -> Inode {
    let inode = try liveInode(ino)
    let found: Inode
    if name.bytes == [0x2e] {
      found = inode
    } else {
      guard inode.isDirectory else { throw .ENOTDIR }
      found = try parentForHandle(inode)
    }
    icache.hold(found)
    return found
  }

  /// The inode numbered `ino` if it is not evicted: the kernel's, else any
  /// superblock's live one, else the one its superblock loads again
  /// (`SuperOperations.inodeForHandle`).
  func liveInode(_ ino: UInt64) throws(Errno) -> Inode {
    if let held = icache.get(ino) {
      guard !icache.isEvicted(held) else { throw VFS.staleHandle }
      return held
    }
    let superBlocks = mountLock.withLock { mounts.map(\.superBlock) }
    for sb in superBlocks {
      if let inode = sb.liveInode(ino) { return inode }
    }
    for sb in superBlocks where sb.ownNumber(ofIno: ino) != nil {
      // Under the namespace lock, as a lookup loads an inode: no unlink
      // frees the number between the disk read and the inode cache.
      let loaded = try sb.namespaceLock.withReadLock { () throws(Errno) -> Inode? in
        try sb.loadInode(numbered: ino)
      }
      guard let inode = loaded else { continue }
      guard !icache.isEvicted(inode) else { throw VFS.staleHandle }
      return inode
    }
    throw VFS.staleHandle
  }

  /// The directory holding `dir` (get_parent()): the one the VFS knows, else
  /// the file system's answer (ext2 reads ".." on the disk), which the
  /// directory then remembers, as a lookup's d_splice_alias() would.
  /// Parents move only under the namespace lock (rename).
  private func parentForHandle(_ dir: Inode) throws(Errno) -> Inode {
    try dir.sb.namespaceLock.withReadLock { () throws(Errno) -> Inode in
      if let parent = dir.parentDirectory { return parent }
      guard dir !== dir.sb.root else { throw VFS.staleHandle }
      let parent = try dir.sb.ops.parentForHandle(dir)
      guard parent.isDirectory, !icache.isEvicted(parent) else { throw VFS.staleHandle }
      // Lookups share the namespace lock: the inode's lock orders the store
      // (as in resolveMissLocked).
      return dir.lock.withLock { () -> Inode in
        if let known = dir.parentDirectory { return known }
        dir.parentDirectory = parent
        return parent
      }
    }
  }
}

extension SuperBlock {
  /// The inode its file system loads for VFS number `ino`
  /// (`SuperOperations.inodeForHandle` on its own number), nil if `ino` is
  /// not one of this superblock's own numbers. An answer with another
  /// number or superblock is ESTALE: the kernel's node id check would fail
  /// on it (EIO there). The caller chooses the lock: a lookup's namespace
  /// lock, or none inside a listing that holds the directory.
  func loadInode(numbered ino: UInt64) throws(Errno) -> Inode? {
    guard let number = ownNumber(ofIno: ino) else { return nil }
    let inode = try ops.inodeForHandle(self, number: number)
    guard inode.ino == ino, inode.sb === self else { throw VFS.staleHandle }
    return inode
  }
}
