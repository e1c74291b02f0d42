// File handles on ext2 (fs/ext2/super.c's ext2_export_ops): the inode a
// handle names, and a directory's parent, loaded again from the disk after
// the kernel above forgot them (drop_caches). The VFS asks only when no live
// inode has the number (VFS/Export.swift); the VFS inode number of a disk
// inode is fixed by its disk number (`SuperBlock.useOwnInodeNumbers`, at
// mount), and its generation is the disk's i_generation, so a handle made
// before the kernel forgot the inode still names it, and one of a freed and
// reused number does not (the kernel compares the generations).
//
// Locking: `iget` takes only the inode table's lock and leaf locks; the
// parent is read with the namespace lock held for reading by the VFS, so no
// rename moves ".." meanwhile.

import SwiftVFSCore

extension Ext2SuperOperations {
  /// Like ext2_nfs_get_inode(): a reserved number other than the root, or
  /// one past s_inodes_count, is ESTALE; else ext2_iget() through the inode
  /// table (`Ext2FileSystemInfo.iget`, one object per disk inode), where a
  /// deleted inode is ESTALE too.
  func inodeForHandle(_ sb: SuperBlock, number: UInt64) throws(Errno) -> Inode {
    let d = info.superBlock
    guard number == UInt64(Ext2SuperBlock.rootIno) || number >= UInt64(d.firstIno),
      number <= UInt64(d.inodesCount), let ino = UInt32(exactly: number)
    else { throw ESTALE_ }
    return try info.iget(ino)
  }

  /// Like ext2_get_parent(): the inode the ".." entry of `dir` names on the
  /// disk (ext2_inode_by_name(child, "..")). A directory without one, or
  /// whose ".." names a freed inode, is ESTALE; a ".." that names no
  /// directory is damage (EUCLEAN).
  func parentForHandle(_ dir: Inode) throws(Errno) -> Inode {
    let disk = try info.diskInode(of: dir)
    guard let ino = try info.findEntry(disk, [0x2e, 0x2e]) else { throw ESTALE_ }
    let parent = try inodeForHandle(dir.sb, number: UInt64(ino))
    guard parent.isDirectory else { throw EFSCORRUPTED }
    return parent
  }
}
