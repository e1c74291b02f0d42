import SwiftVFS

/// The smallest SwiftVFS file system: a read-only root holding one file,
/// `hello`. Being read-only, every change (write, chmod, touch, mkdir ...)
/// is EROFS, as on a kernel file system mounted `ro`; what it does not
/// implement answers as the kernel's defaults do.
final class HelloFS: FileSystemType {
  let name = "hellofs"
  let readOnly = true

  func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
    let sb = SuperBlock(
      fsType: self, ops: HelloSuper(), context: context, magic: 0x4845_4c4c)
    let root = try sb.newInode(
      mode: FileType.directory.rawValue | 0o555, cred: context.cred, ops: HelloDirectory(),
      fileOps: HelloDirectory())
    let hello = try sb.newInode(
      mode: FileType.regular.rawValue | 0o444, cred: context.cred, ops: HelloFile(),
      fileOps: HelloFile())
    hello.size = Int64(HelloFile.text.count)
    root.privateData = hello
    sb.setRoot(root)
    return sb
  }
}

/// statfs and evict_inode: the defaults.
struct HelloSuper: SuperOperations {}

/// The root: `lookup` finds the one name, `iterate` lists ".", ".." and it.
struct HelloDirectory: InodeOperations, FileOperations {
  func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? {
    name == "hello" ? dir.privateData as? Inode : nil
  }

  func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno) {
    guard Simple.emitDots(file, from: offset, emit), offset < 3,
      let hello = file.inode.privateData as? Inode
    else { return }
    _ = emit(DirEntry(name: "hello", ino: hello.ino, type: .regular, offset: 3, inode: hello))
  }
}

/// The file: `read` serves its bytes.
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
