import SwiftVFS

/// A read-only file system with one file, `hello`.
public final class HelloFS: FileSystemType {
  public let name = "hellofs"
  public let readOnly = true

  public init() {}

  public func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
    let sb = SuperBlock(fsType: self, ops: HelloSuper(), context: context, magic: 0x4845_4c4c)
    let root = try sb.newInode(
      mode: FileType.directory.rawValue | 0o555, cred: context.cred,
      ops: HelloDirectory(), fileOps: HelloDirectory())
    sb.setRoot(root)
    return sb
  }
}

/// statfs and evict_inode: the defaults.
struct HelloSuper: SuperOperations {}

/// The root directory: for now, nothing in it.
struct HelloDirectory: InodeOperations, FileOperations {}
