import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// Mount points the VFS shows on names the directory's file system does not
/// hold (how /dev and /proc go over any root): lookups, paged listings with
/// their own cookies, link counts, and the EBUSY / EEXIST answers.
final class SynthesizedMountPointTests: MemfsTestCase {
  /// Lists `dir` one entry per readdir call, resuming from each cookie.
  private func pagedNames(_ dir: Inode) throws -> [String] {
    let (fh, file) = try vfs.open(dir, flags: 0, cred: .root)
    defer { vfs.release(fh) }
    var names: [String] = []
    var cookie: Int64 = 0
    while true {
      var got: DirEntry?
      try vfs.readdir(file, from: cookie) { e in
        guard got == nil else { return false }
        got = e
        return true
      }
      guard let got else { return names }
      names.append(got.name.description)
      cookie = got.offset
    }
  }

  func testAMountOnANameTheRootDoesNotHold() throws {
    _ = try h.file(root, "f")
    let linksBefore = try vfs.getattr(root).nlink
    let sb = try vfs.mount(
      "memfs", at: "/extra", options: MountOptions(), synthesizeMountPoint: true)
    XCTAssertTrue(try vfs.lookup(root, "extra") === sb.root)
    vfs.forget(sb.root.ino, count: 1)
    XCTAssertEqual(try pagedNames(root), [".", "..", "f", "extra"], "each once, in pages")
    XCTAssertEqual(try vfs.getattr(root).nlink, linksBefore + 1, "its \"..\" links the root")
    XCTAssertTrue(try vfs.lookup(sb.root, "..") === root)
    XCTAssertEqual(try h.names(sb.root), [])
    XCTAssertEqual(vtErrno { try self.vfs.rmdir(self.root, "extra") }, .EBUSY)
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, "extra", self.root, "x") }, .EBUSY)
    XCTAssertEqual(vtErrno { _ = try self.h.dir(self.root, "extra") }, .EEXIST)
    XCTAssertEqual(vtErrno { try self.vfs.unlink(self.root, "extra") }, .EISDIR)
    // A file made in the mounted tree lives there, not in the root memfs.
    _ = try h.file(sb.root, "inside")
    XCTAssertEqual(try h.names(sb.root), ["inside"])
    XCTAssertEqual(try h.names(root), ["f", "extra"])
  }

  func testADirectoryHoldingOneCannotBeRemoved() throws {
    let d = try h.dir(root, "d")
    try vfs.mount("memfs", at: "/d/m", options: MountOptions(), synthesizeMountPoint: true)
    XCTAssertEqual(try h.names(d), ["m"])
    XCTAssertEqual(vtErrno { try self.vfs.rmdir(self.root, "d") }, .EBUSY)
    XCTAssertEqual(vtErrno { try self.vfs.rename(self.root, "d", self.root, "e") }, .EBUSY)
  }

  func testAnExistingDirectoryIsCoveredAsUsual() throws {
    let d = try h.dir(root, "d")
    let sb = try vfs.mount(
      "memfs", at: "/d", options: MountOptions(), synthesizeMountPoint: true)
    XCTAssertTrue(vfs.isMountPoint(d))
    XCTAssertEqual(try pagedNames(root), [".", "..", "d"])
    XCTAssertTrue(try vfs.lookup(root, "d") === sb.root)
    vfs.forget(sb.root.ino, count: 1)
  }

  func testDevAndProcOnMemfsNeedNoDirectories() throws {
    try vfs.mountDevAndProc()
    XCTAssertEqual(try pagedNames(root), [".", "..", "dev", "proc"])
    XCTAssertEqual(root.sb.usedInodes, 1, "memfs holds only its root")
    let dev = try vfs.lookup(root, "dev")
    defer { vfs.forget(dev.ino, count: 1) }
    XCTAssertTrue(try h.names(dev).contains("null"))
  }

  /// Trap 3: without a devtmpfs the node would appear nowhere.
  func testDevtmpfsCreateNodeWithoutDevtmpfsIsENODEV() throws {
    let dev = try DevT(major: 1, minor: 3)
    XCTAssertEqual(vtErrno { try self.vfs.devtmpfsCreateNode("null", dev: dev) }, .ENODEV)
  }
}
