#if canImport(Glibc)
  import Glibc
#endif

/// File handles (name_to_handle_at, open_by_handle_at, an NFS re-export): the
/// daemon's half of the kernel's fs/fuse/inode.c export operations.
///
/// The kernel encodes a handle as the FUSE node id and the generation
/// (fuse_encode_fh()); node ids here are inode numbers, unique for the VFS's
/// whole life and never reused. To decode it, the kernel looks for the node
/// id in its own inode cache; if it has forgotten the inode (drop_caches,
/// memory pressure, a remounted client) it sends LOOKUP of "." on that id
/// (fuse_get_dentry()), and to reconnect a directory LOOKUP of ".." on it
/// (fuse_get_parent()). So both must work on any inode that still lives,
/// whether or not the kernel holds it: each superblock keeps an index of its
/// live inodes (`SuperBlock.liveInode`). An evicted inode is ESTALE, as a
/// deleted file's handle is on tmpfs.
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
      // Parents move only under the namespace lock (rename).
      let parent = inode.sb.namespaceLock.withReadLock { inode.parentDirectory }
      guard let parent else { throw VFS.staleHandle }
      found = parent
    }
    icache.hold(found)
    return found
  }

  /// The inode numbered `ino` if it is not evicted: the kernel's, else any
  /// superblock's live one.
  func liveInode(_ ino: UInt64) throws(Errno) -> Inode {
    if let held = icache.get(ino) {
      guard !icache.isEvicted(held) else { throw VFS.staleHandle }
      return held
    }
    let superBlocks = mountLock.withLock { mounts.map(\.superBlock) }
    for sb in superBlocks {
      if let inode = sb.liveInode(ino) { return inode }
    }
    throw VFS.staleHandle
  }
}
