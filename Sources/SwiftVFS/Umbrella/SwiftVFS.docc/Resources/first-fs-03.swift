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
    let hello = try sb.newInode(
      mode: FileType.regular.rawValue | 0o444, cred: context.cred,
      ops: HelloFile(), fileOps: HelloFile())
    hello.size = Int64(HelloFile.text.count)
    root.setPayload(hello)
    sb.setRoot(root)
    return sb
  }
}

/// statfs and evict_inode: the defaults.
struct HelloSuper: SuperOperations {}

/// The root directory: `lookup` finds the one name, `iterate` lists
/// ".", ".." and it.
struct HelloDirectory: InodeOperations, FileOperations {
  func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? {
    name == "hello" ? dir.payload(as: Inode.self) : nil
  }

  func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno) {
    guard Simple.emitDots(file, from: offset, emit), offset < 3,
      let hello = file.inode.payload(as: Inode.self)
    else { return }
    _ = emit(DirEntry(name: "hello", ino: hello.ino, type: .regular, offset: 3, inode: hello))
  }
}

/// The file: `read` serves its bytes from `offset`.
struct HelloFile: InodeOperations, FileOperations {
  static let text = Array("Hello from Swift!\n".utf8)

  func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    guard offset < HelloFile.text.count else { return 0 }
    let start = Int(offset)
    let n = min(buffer.count, HelloFile.text.count - start)
    buffer.copyBytes(from: HelloFile.text[start..<start + n])
    return n
  }
}
