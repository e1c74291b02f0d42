import SwiftVFSCore

/// Directories of the proc tree, like proc_dir_inode_operations and
/// proc_dir_operations (fs/proc/generic.c): lookup and readdir over the
/// node's fixed children. Nothing can be created, removed or renamed in them
/// (the default EPERM / EACCES of an empty slot), nor chmod'ed (EPERM).
struct ProcDirectoryOperations: InodeOperations, FileOperations {
  /// Like proc_lookup().
  func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? {
    ProcNode.of(dir).child(name)
  }

  /// Like proc_notify_change() for a directory: nothing may change.
  func setattr(_ inode: Inode, _ attr: SetAttr, cred: Cred) throws(Errno) {
    if !attr.isEmpty { throw .EPERM }
  }

  /// Like proc_readdir(): ".", "..", then the children, cookie = index + 3.
  func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno) {
    let dir = file.inode
    guard Simple.emitDots(file, from: offset, emit) else { return }
    let children = ProcNode.of(dir).children
    var i = max(Int(offset) - 2, 0)
    while i < children.count {
      let (name, inode) = children[i]
      let entry = DirEntry(
        name: name, ino: inode.ino, type: inode.type, offset: Int64(i + 3), inode: inode)
      guard emit(entry) else { return }
      i += 1
    }
  }

  func fsync(_ file: File, dataOnly: Bool) throws(Errno) {}
}
