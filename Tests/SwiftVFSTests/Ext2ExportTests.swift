// File handles on ext2 (Sources/SwiftVFS/Ext2/Ext2Export.swift and
// VFS/Export.swift), through the public API: an inode the kernel forgot and
// every cache let go is found again by its number, which is its disk number,
// with the disk's i_generation (debugfs is the oracle); a directory's parent
// is read from its ".." on the disk; a deleted, reserved or out-of-range
// number is ESTALE; a reused number takes over the lookups the kernel
// still holds on the freed inode; and below another root the numbers are
// shifted past those already handed out, and still found.

import Foundation
import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// An inode's identity, kept without keeping the inode.
private final class WeakInode {
  weak var inode: Inode?
  init(_ inode: Inode) { self.inode = inode }
}

final class Ext2ExportTests: XCTestCase {
  private var scratch: ScratchDirectory!
  private var image = ""
  private var vfs: VFS!

  override func setUpWithError() throws {
    scratch = try ScratchDirectory("swiftvfs-ext2x")
    image = scratch.path + "/x.img"
    let (status, output) = try runTool(
      "/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2", "-b", "4096", image, "8M"])
    XCTAssertEqual(status, 0, output)
    vfs = VFS()
    try vfs.filesystems.register(Ext2FileSystem())
    try vfs.mount("ext2", at: "/", options: MountOptions(parsing: "source=\(image)"))
  }

  override func tearDownWithError() throws {
    vfs?.unmountAll()
    vfs = nil
    try? scratch?.remove()
    scratch = nil
  }

  /// The i_generation debugfs reads for disk inode `ino` (after a sync).
  private func diskGeneration(_ ino: UInt64) throws -> UInt64? {
    let (_, output) = try runTool("/usr/sbin/debugfs", ["-R", "stat <\(ino)>", image])
    guard let range = output.range(of: "Generation: ") else { return nil }
    return UInt64(output[range.upperBound...].prefix { $0.isNumber })
  }

  /// What drop_caches does above and here: the kernel's lookups given back
  /// (FORGET), the dcache emptied, and a sync, after which ext2 keeps no
  /// written inode.
  private func forgetEverything(_ held: [(UInt64, UInt64)]) throws {
    for (ino, count) in held { vfs.forget(ino, count: count) }
    _ = vfs.dcache.shrink(to: 0)
    try vfs.syncFS(vfs.root)
  }

  private func expectESTALE(
    _ what: String, file: StaticString = #filePath, line: UInt = #line,
    _ body: () throws(Errno) -> Void
  ) {
    do {
      try body()
      XCTFail("\(what): no error", file: file, line: line)
    } catch {
      XCTAssertEqual(error, .ESTALE, what, file: file, line: line)
    }
  }

  func testAnEvictedInodeIsFoundAgainByNumberWithItsGeneration() throws {
    // Made in a function of its own, so that no local keeps them.
    struct Made {
      let file: WeakInode
      let sub: WeakInode
      let ino: UInt64
      let generation: UInt64
      let subIno: UInt64
      let dirIno: UInt64
    }
    let made = try { () throws -> Made in
      let (inode, fh, open) = try vfs.create(
        vfs.root, "f", mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
      let bytes = Array("hello".utf8)
      _ = try bytes.withUnsafeBytes { try vfs.write(open, from: $0, at: 0) }
      vfs.release(fh)
      let dir = try vfs.mkdir(vfs.root, "d", mode: 0o755, cred: .root)
      let sub = try vfs.mkdir(dir, "sub", mode: 0o755, cred: .root)
      // The VFS number is the disk number (st_ino), as ext2 mounted first.
      XCTAssertEqual(try vfs.getattr(inode).ino, inode.ino)
      XCTAssertEqual(try vfs.getattr(sub).ino, sub.ino)
      try forgetEverything([(inode.ino, 1), (dir.ino, 1), (sub.ino, 1)])
      return Made(
        file: WeakInode(inode), sub: WeakInode(sub), ino: inode.ino,
        generation: inode.generation, subIno: sub.ino, dirIno: dir.ino)
    }()
    let (ino, generation, subIno, dirIno) = (made.ino, made.generation, made.subIno, made.dirIno)
    XCTAssertEqual(try diskGeneration(ino), generation, "the disk's i_generation")
    XCTAssertNil(made.file.inode, "the file's inode is in no cache")
    XCTAssertNil(made.sub.inode, "the directory's inode is in no cache")
    XCTAssertThrowsError(try vfs.inode(ino), "the kernel holds no lookup")

    // LOOKUP "." on the node id, as fuse_get_dentry() sends it.
    let again = try vfs.exportLookup(ino, FileName("."))
    XCTAssertEqual(again.ino, ino)
    XCTAssertEqual(again.generation, generation)
    XCTAssertEqual(try vfs.getattr(again).ino, ino)
    XCTAssertEqual(try readBytes(vfs, again, at: 0, count: 16), Array("hello".utf8))
    XCTAssertTrue(try vfs.inode(ino) === again, "held for the kernel, as lookup holds it")
    XCTAssertTrue(try vfs.exportLookup(ino, FileName(".")) === again, "one object per inode")
    vfs.forget(ino, count: 2)

    // A directory reconnects: "." then ".." (fuse_get_parent()), read on the disk.
    let directory = try vfs.exportLookup(subIno, FileName("."))
    let parent = try vfs.exportLookup(subIno, FileName(".."))
    XCTAssertEqual(parent.ino, dirIno)
    XCTAssertTrue(parent.isDirectory)
    XCTAssertTrue(try vfs.lookup(parent, FileName("sub")) === directory)
    XCTAssertEqual(try vfs.exportLookup(dirIno, FileName("..")).ino, vfs.root.ino)
    XCTAssertThrowsError(try vfs.exportLookup(ino, FileName(".."))) {
      XCTAssertEqual($0 as? Errno, .ENOTDIR)
    }
  }

  func testDeletedReservedAndOutOfRangeNumbersAreESTALE() throws {
    let (gone, fh, _) = try vfs.create(
      vfs.root, "gone", mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
    vfs.release(fh)
    let ino = gone.ino
    try vfs.unlink(vfs.root, "gone")
    vfs.forget(ino, count: 1)
    try forgetEverything([])
    expectESTALE("a deleted inode") { () throws(Errno) in _ = try vfs.exportLookup(ino, ".") }

    let sb = vfs.root.sb
    let count = try XCTUnwrap(sb.ownInodeNumbers?.count)
    for number: UInt64 in [0, 1, 5, 10, count + 1, UInt64(UInt32.max) + 2] {
      expectESTALE("number \(number)") { () throws(Errno) in
        _ = try sb.ops.inodeForHandle(sb, number: number)
      }
    }
    expectESTALE("a number never used") { () throws(Errno) in
      _ = try vfs.exportLookup(count, ".")
    }
    expectESTALE("a number past the disk's") { () throws(Errno) in
      _ = try vfs.exportLookup(count + 1, ".")
    }
    // The root is reserved but found.
    XCTAssertTrue(try sb.ops.inodeForHandle(sb, number: 2) === vfs.root)
  }

  func testAReusedNumberTakesOverTheKernelsLookups() throws {
    let (old, fh, _) = try vfs.create(
      vfs.root, "old", mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
    vfs.release(fh)
    let ino = old.ino
    // Deleted, while the kernel's FORGET has not come yet.
    try vfs.unlink(vfs.root, "old")
    // ext2 takes the lowest free number in the parent's group
    // (find_group_other(), find_next_zero_bit()): the one just freed.
    let (new, fh2, _) = try vfs.create(
      vfs.root, "new", mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
    vfs.release(fh2)
    XCTAssertEqual(new.ino, ino)
    XCTAssertNotEqual(new.generation, old.generation, "a new i_generation")
    // The FORGET for the old inode comes now: the new one stays held.
    vfs.forget(ino, count: 1)
    XCTAssertTrue(try vfs.inode(ino) === new)
    vfs.forget(ino, count: 1)
    XCTAssertThrowsError(try vfs.inode(ino))
    // The handle of the new file names it, that of the old does not (the
    // kernel compares the generation: ESTALE).
    try forgetEverything([])
    let found = try vfs.exportLookup(ino, ".")
    XCTAssertEqual(found.generation, new.generation)
    XCTAssertNotEqual(found.generation, old.generation)
    vfs.forget(ino, count: 1)
  }

  func testBelowAnotherRootTheNumbersAreShiftedAndStillFound() throws {
    // A memfs at / took numbers first: ext2's follow them, st_ino stays the disk's.
    let shared = VFS()
    try shared.filesystems.register(MemfsType())
    try shared.filesystems.register(Ext2FileSystem())
    try shared.mount("memfs", at: "/", options: MountOptions())
    let other = try scratch.makeImage("other.img", bytes: 0)
    let (status, output) = try runTool(
      "/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2", "-b", "1024", other, "4M"])
    XCTAssertEqual(status, 0, output)
    let sb = try shared.mount(
      "ext2", at: "/mnt", options: MountOptions(parsing: "source=\(other)"),
      createMountPoint: true)
    defer { shared.unmountAll() }
    let (offset, count) = try XCTUnwrap(sb.ownInodeNumbers)
    XCTAssertGreaterThan(offset, 0)
    XCTAssertEqual(sb.root.ino, offset + 2)
    XCTAssertEqual(try shared.getattr(sb.root).ino, 2)
    let later = try shared.mkdir(shared.root, "later", mode: 0o755, cred: .root)
    XCTAssertGreaterThan(later.ino, offset + count, "numbers after the run")

    let ino = try { () throws -> UInt64 in
      let (inode, fh, _) = try shared.create(
        sb.root, "f", mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
      shared.release(fh)
      let disk = try shared.getattr(inode).ino
      XCTAssertEqual(inode.ino, offset + disk)
      shared.forget(inode.ino, count: 1)
      return inode.ino
    }()
    _ = shared.dcache.shrink(to: 0)
    try shared.syncFS(sb.root)
    XCTAssertThrowsError(try shared.inode(ino))
    let found = try shared.exportLookup(ino, ".")
    XCTAssertEqual(found.ino, ino)
    XCTAssertTrue(found.sb === sb)
    shared.forget(ino, count: 1)
    // memfs's numbers are still found in memfs's index.
    XCTAssertTrue(try shared.exportLookup(later.ino, ".") === later)
    shared.forget(later.ino, count: 2)
  }
}
