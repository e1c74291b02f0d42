import SwiftVFSCore

/// The proc file system, like fs/proc: a tree of generated files that show
/// the VFS's own state (the dcache, the inode cache, the request table, the
/// registered types and devices) and a few controls that change it.
///
/// Mounted at /proc in the standard tree. It takes no mount options (EINVAL
/// for any, as fs_parse answers an unknown parameter). All its inodes are
/// made at mount, owned by root, and live as long as the superblock.
public final class ProcfsType: FileSystemType {
  /// "proc", the name /proc/filesystems and mount(8) use.
  public let name = "proc"
  /// PROC_SUPER_MAGIC, as statfs reports f_type.
  public static let magic: UInt64 = 0x9fa0

  /// The proc type, to register with `VFS.filesystems`.
  public init() {}

  /// Like proc_fill_super(): the generated tree; any mount option is EINVAL.
  public func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
    guard context.options.items.isEmpty else { throw .EINVAL }
    let sb = SuperBlock(
      fsType: self, ops: ProcSuperOperations(), context: context, magic: ProcfsType.magic)
    let vfs = context.vfs
    let root = try makeInode(sb, ProcTree.spec(vfs), parent: nil, vfs: vfs)
    sb.setRoot(root)
    return sb
  }

  /// Like proc_register(): an inode for the node and, for a directory, for
  /// every node under it.
  private func makeInode(_ sb: SuperBlock, _ spec: ProcTreeSpec, parent: Inode?, vfs: VFS)
    throws(Errno) -> Inode
  {
    let node = spec.node
    let inode: Inode
    switch node.content {
    case .directory:
      inode = try sb.newInode(
        mode: node.mode, cred: .root, ops: ProcDirectoryOperations(),
        fileOps: ProcDirectoryOperations())
    case .trace:
      inode = try sb.newInode(
        mode: node.mode, cred: .root, ops: ProcTraceOperations(trace: vfs.requests.trace),
        fileOps: ProcTraceOperations(trace: vfs.requests.trace))
      vfs.requests.trace.hide(ino: inode.ino)
    case .text, .control:
      inode = try sb.newInode(
        mode: node.mode, cred: .root, ops: ProcFileOperations(), fileOps: ProcFileOperations())
    }
    inode.privateData = node
    if let parent { inode.parentDirectory = parent }
    for child in spec.children {
      let childInode = try makeInode(sb, child, parent: inode, vfs: vfs)
      node.add(child.node.name, childInode)
      if child.node.isDirectory { inode.nlink += 1 }
    }
    return inode
  }
}

/// Like proc_sops: nothing is ever evicted while mounted (every inode is
/// linked in the tree), and statfs is the simple one.
struct ProcSuperOperations: SuperOperations {}
