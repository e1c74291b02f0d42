import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// Issue 10's traps that need no mount: names that cannot be built invalid,
/// the root's node id, the read-only and fsync defaults, and dir_emit_dots.
final class FileNameTests: XCTestCase {
  /// The errno making a name from `string` throws, nil if none.
  func nameErrno(_ string: String) -> Errno? {
    do throws(Errno) {
      _ = try FileName(string)
      return nil
    } catch {
      return error
    }
  }

  func nameErrno(bytes: [UInt8]) -> Errno? {
    do throws(Errno) {
      _ = try FileName(bytes)
      return nil
    } catch {
      return error
    }
  }

  func testValidNamesAreKeptByteForByte() throws {
    XCTAssertEqual(try FileName(String("hello")).bytes, Array("hello".utf8))
    XCTAssertEqual(try FileName(String(".")).bytes, [0x2e])
    XCTAssertEqual(try FileName(String("..")).bytes, [0x2e, 0x2e])
    XCTAssertEqual(try FileName([0xff, 0xfe]).bytes, [0xff, 0xfe])  // not UTF-8: fine
    XCTAssertEqual(try FileName(String(repeating: "x", count: 255)).bytes.count, 255)
    let literal: FileName = "lit"
    XCTAssertEqual(literal.bytes, Array("lit".utf8))
  }

  /// A name with "/" broke a whole `ls` with EIO; now it cannot be made.
  func testInvalidNamesThrowTheKernelsErrno() {
    XCTAssertEqual(nameErrno("a/b"), .EINVAL)
    XCTAssertEqual(nameErrno("/"), .EINVAL)
    XCTAssertEqual(nameErrno(""), .EINVAL)
    XCTAssertEqual(nameErrno("a\u{0}b"), .EINVAL)
    XCTAssertEqual(nameErrno(bytes: [0x61, 0x2f]), .EINVAL)
    XCTAssertEqual(nameErrno(bytes: []), .EINVAL)
    XCTAssertEqual(nameErrno(String(repeating: "x", count: 256)), .ENAMETOOLONG)
    XCTAssertEqual(nameErrno(bytes: [UInt8](repeating: 0x78, count: 1000)), .ENAMETOOLONG)
    XCTAssertThrowsError(try FileName.validated(Array("a/b".utf8)))
  }
}

final class RootNodeIDTests: XCTestCase {
  /// Node ids and inode numbers trade FUSE_ROOT_ID and the root's number,
  /// and nothing else: a bijection, its own inverse.
  func testSwapRootIsABijection() {
    for rootIno: UInt64 in [1, 2, 3, 1000] {
      var seen = Set<UInt64>()
      for n: UInt64 in 0...1001 {
        let id = FuseNodeIDs.swapRoot(n, rootIno: rootIno)
        XCTAssertEqual(FuseNodeIDs.swapRoot(id, rootIno: rootIno), n)
        XCTAssertTrue(seen.insert(id).inserted, "two numbers for node id \(id)")
      }
      XCTAssertEqual(FuseNodeIDs.swapRoot(rootIno, rootIno: rootIno), 1)
      XCTAssertEqual(FuseNodeIDs.swapRoot(1, rootIno: rootIno), rootIno)
      XCTAssertEqual(FuseNodeIDs.swapRoot(0, rootIno: rootIno), 0)
    }
  }

  /// A root made after its children: node id 1 is the root, and the inode
  /// numbered 1 answers to the root's number, at the bridge.
  func testBridgeMapsRootIdToARootThatIsNotInodeOne() throws {
    let vfs = VFS()
    try vfs.filesystems.register(LateRootFS())
    try vfs.mount("lateroot", at: "/", options: MountOptions())
    let root = vfs.root
    XCTAssertEqual(root.ino, 2)
    let bridge = FuseBridge(vfs: vfs, options: FuseBridge.Options())
    XCTAssertTrue(try bridge.node(1) === root)
    XCTAssertEqual(bridge.nodeIDs.nodeID(ofIno: root.ino), 1)
    let first = try vfs.lookup(root, "first")  // now held, as after an entry reply
    XCTAssertEqual(first.ino, 1)
    XCTAssertEqual(bridge.nodeIDs.nodeID(ofIno: 1), root.ino)
    XCTAssertTrue(try bridge.node(root.ino) === first)
    vfs.forget(first.ino, count: 1)
  }

  /// The usual case (root is inode 1) maps every number to itself.
  func testStandardTreeKeepsNumbers() throws {
    let vfs = try VFS.standard(options: MountOptions())
    XCTAssertEqual(vfs.root.ino, 1)
    let bridge = FuseBridge(vfs: vfs, options: FuseBridge.Options())
    for n: UInt64 in 0...50 { XCTAssertEqual(bridge.nodeIDs.nodeID(ofIno: n), n) }
    XCTAssertTrue(try bridge.node(1) === vfs.root)
  }

  /// A file system that shows its own st_ino numbers reserves them: inodes
  /// made afterwards, in any superblock, get numbers above.
  func testReservedInodeNumbersAreNotHandedOut() {
    let numbers = InodeNumbers()
    XCTAssertEqual(numbers.next().ino, 1)
    numbers.reserve(through: 1000)
    XCTAssertEqual(numbers.next().ino, 1001)
    numbers.reserve(through: 10)  // below what is handed out already: no change
    XCTAssertEqual(numbers.next().ino, 1002)
    numbers.reserve(through: UInt64.max)  // nothing could be handed out after it: ignored
    XCTAssertEqual(numbers.next().ino, 1003)
  }

  /// An entry naming the root (LOOKUP of "." or of a top directory's "..")
  /// carries generation 0, as the kernel's root inode has; other entries
  /// carry their inode's generation.
  func testRootEntryHasGenerationZero() throws {
    let vfs = VFS()
    try vfs.filesystems.register(LateRootFS())
    try vfs.mount("lateroot", at: "/", options: MountOptions())
    let bridge = FuseBridge(vfs: vfs, options: FuseBridge.Options())
    XCTAssertNotEqual(vfs.root.generation, 0)
    let rootEntry = bridge.entryParam(vfs.root, stat: try vfs.getattr(vfs.root))
    XCTAssertEqual(rootEntry.ino, 1)
    XCTAssertEqual(rootEntry.generation, 0)
    let first = try vfs.lookup(vfs.root, "first")
    let entry = bridge.entryParam(first, stat: try vfs.getattr(first))
    XCTAssertEqual(entry.generation, first.generation)
    XCTAssertNotEqual(entry.generation, 0)
    vfs.forget(first.ino, count: 1)
  }
}

/// One file made before the root: it is inode 1, the root inode 2.
final class LateRootFS: FileSystemType {
  let name = "lateroot"

  struct Super: SuperOperations {}
  struct Plain: InodeOperations, FileOperations {}
  struct Dir: InodeOperations, FileOperations {
    let first: Inode
    func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? {
      name == "first" ? first : nil
    }
    func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno) {
      guard Simple.emitDots(file, from: offset, emit), offset < 3 else { return }
      _ = emit(DirEntry(name: "first", ino: first.ino, type: .regular, offset: 3, inode: first))
    }
  }

  func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
    let sb = SuperBlock(fsType: self, ops: Super(), context: context, magic: 0x4c52)
    let first = try sb.newInode(
      mode: FileType.regular.rawValue | 0o644, cred: context.cred, ops: Plain(),
      fileOps: Plain())
    let dir = Dir(first: first)
    sb.setRoot(
      try sb.newInode(
        mode: FileType.directory.rawValue | 0o755, cred: context.cred, ops: dir, fileOps: dir))
    return sb
  }
}

final class DefaultsTests: XCTestCase {
  func lateRootVFS(options: String? = nil) throws -> VFS {
    let vfs = VFS()
    try vfs.filesystems.register(LateRootFS())
    let parsed = try options.map { s throws(Errno) in try MountOptions(parsing: s) }
    try vfs.mount("lateroot", at: "/", options: parsed ?? MountOptions())
    return vfs
  }

  /// Simple.emitDots: "." and ".." with cookies 1 and 2, resumable after
  /// each, and it stops when the buffer is full.
  func testEmitDotsLikeDirEmitDots() throws {
    let vfs = try lateRootVFS()
    let (fh, file) = try vfs.open(vfs.root, flags: O_RDONLY, cred: .root)
    defer { vfs.release(fh) }
    func list(from cookie: Int64, max: Int = 10) throws -> [String] {
      var out: [String] = []
      try vfs.readdir(file, from: cookie) { e in
        guard out.count < max else { return false }
        out.append("\(e.name)@\(e.offset)")
        return true
      }
      return out
    }
    XCTAssertEqual(try list(from: 0), [".@1", "..@2", "first@3"])
    XCTAssertEqual(try list(from: 1), ["..@2", "first@3"])
    XCTAssertEqual(try list(from: 2), ["first@3"])
    XCTAssertEqual(try list(from: 3), [])
    XCTAssertEqual(try list(from: 0, max: 1), [".@1"])
  }

  /// The default fsync succeeds (noop_fsync()); a char device without one
  /// keeps the kernel's EINVAL.
  func testDefaultFsyncSucceedsExceptOnCharDevices() throws {
    let vfs = try lateRootVFS()
    let first = try vfs.lookup(vfs.root, "first")
    defer { vfs.forget(first.ino, count: 1) }
    let (fh, file) = try vfs.open(first, flags: O_RDONLY, cred: .root)
    defer { vfs.release(fh) }
    XCTAssertNoThrow(try vfs.fsync(file, dataOnly: false))
    XCTAssertNoThrow(try vfs.fsync(file, dataOnly: true))
    let device = try VFS.standard(options: MountOptions())
    var null = device.root
    for part in ["dev", "null"] { null = try device.lookup(null, try FileName(part)) }
    let (nfh, nullFile) = try device.open(null, flags: O_RDWR, cred: .root)
    defer { device.release(nfh) }
    XCTAssertThrowsError(try device.fsync(nullFile, dataOnly: false)) {
      XCTAssertEqual($0 as? Errno, .EINVAL)
    }
  }

  /// A type that declares itself read-only makes read-only superblocks,
  /// whatever the options; `ro` alone does it for any type.
  func testReadOnlyTypeAndOption() throws {
    final class ReadOnlyType: FileSystemType {
      let name = "readonly"
      let readOnly = true
      func mount(_ context: MountContext) throws(Errno) -> SuperBlock { throw .ENODEV }
    }
    XCTAssertFalse(try lateRootVFS().rootSuperBlock.readOnly)
    XCTAssertTrue(try lateRootVFS(options: "ro").rootSuperBlock.readOnly)
    let vfs = VFS()
    let context = MountContext(
      options: MountOptions(), inodeNumbers: InodeNumbers(), superBlockID: 1, vfs: vfs,
      cred: .root)
    let sb = SuperBlock(fsType: ReadOnlyType(), ops: LateRootFS.Super(), context: context, magic: 1)
    XCTAssertTrue(sb.readOnly)
    let roVFS = try lateRootVFS(options: "ro")
    XCTAssertThrowsError(try roVFS.setattr(roVFS.root, SetAttr(mode: 0o777), cred: .root)) {
      XCTAssertEqual($0 as? Errno, .EROFS)
    }
  }
}
