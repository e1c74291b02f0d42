import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

#if canImport(Glibc)
  import Glibc
#endif

final class MountOptionsTests: XCTestCase {
  private func sb(_ options: String, cred: Cred = .root) throws -> SuperBlock {
    try MemfsHarness(options: options).sb
  }

  private var ram: UInt64 {
    UInt64(sysconf(Int32(_SC_PHYS_PAGES))) * UInt64(sysconf(Int32(_SC_PAGESIZE)))
  }

  func testParsingKeepsOrderAndTheLastValue() throws {
    let o = try MountOptions(parsing: "size=1m,ro,mode=700,size=2m,x=a=b")
    XCTAssertEqual(o.value("size"), "2m")
    XCTAssertEqual(o.value("mode"), "700")
    XCTAssertEqual(o.value("x"), "a=b")
    XCTAssertTrue(o.flag("ro"))
    XCTAssertFalse(o.flag("size"), "a key with a value is no flag")
    XCTAssertFalse(o.flag("rw"))
    XCTAssertNil(o.value("nope"))
    XCTAssertEqual(o.description, "ro,mode=700,size=2m,x=a=b")
    for bad in ["", ",", "a,,b", "=1", "size=1m,"] {
      XCTAssertEqual(vtErrno { _ = try MountOptions(parsing: bad) }, .EINVAL, bad)
    }
  }

  func testSizeTakesSuffixesAndPercentages() throws {
    XCTAssertEqual(try sb("size=4096").maxBlocks, 1)
    XCTAssertEqual(try sb("size=4097").maxBlocks, 2, "rounded up to whole pages")
    XCTAssertEqual(try sb("size=1k").maxBlocks, 1)
    XCTAssertEqual(try sb("size=8K").maxBlocks, 2)
    XCTAssertEqual(try sb("size=1m").maxBlocks, 256)
    XCTAssertEqual(try sb("size=3M").maxBlocks, 768)
    XCTAssertEqual(try sb("size=1g").maxBlocks, 262_144)
    XCTAssertEqual(try sb("size=2G").maxBlocks, 524_288)
    XCTAssertEqual(try sb("size=1t").maxBlocks, 1 << 28)
    XCTAssertNil(try sb("size=0").maxBlocks, "0 is unlimited")
    let pages = ram / 4096
    XCTAssertEqual(try sb("size=10%").maxBlocks, (ram * 10 / 100 + 4095) / 4096)
    XCTAssertEqual(try sb("size=100%").maxBlocks, pages)
    XCTAssertEqual(try sb("").maxBlocks, pages / 2, "default: half the RAM's pages")
  }

  /// tmpfs counts its defaults in pages, rounded down: on a machine with an
  /// odd number of pages (6,182,927 on one of this project's machines) df
  /// differed from tmpfs by one page before. The page counts are given, so
  /// this holds on any machine.
  func testDefaultsAreHalfTheRAMsPagesRoundedDownAsTmpfs() throws {
    func sb(_ options: String, ramPages: UInt64) throws -> SuperBlock {
      let vfs = VFS()
      try vfs.filesystems.register(MemfsType(ramPages: ramPages))
      try vfs.mount("memfs", at: "/", options: MountOptions(parsing: options))
      return vfs.rootSuperBlock
    }
    for (pages, half) in [(6_182_927 as UInt64, 3_091_463 as UInt64), (6_182_928, 3_091_464)] {
      XCTAssertEqual(try sb("mode=1777", ramPages: pages).maxBlocks, half, "\(pages) pages")
      XCTAssertEqual(try sb("mode=1777", ramPages: pages).maxInodes, half, "\(pages) pages")
    }
    // size=50% is computed in bytes, then rounded up to pages (shmem_parse_one).
    XCTAssertEqual(try sb("size=50%", ramPages: 6_182_927).maxBlocks, 3_091_464)
    XCTAssertEqual(try sb("size=33%", ramPages: 3).maxBlocks, 1)
  }

  func testNrInodesModeUidGid() throws {
    XCTAssertEqual(try sb("nr_inodes=10").maxInodes, 10)
    XCTAssertEqual(try sb("nr_inodes=2k").maxInodes, 2048)
    XCTAssertEqual(try sb("nr_inodes=1m").maxInodes, 1 << 20)
    XCTAssertNil(try sb("nr_inodes=0").maxInodes)
    XCTAssertEqual(try sb("").maxInodes, ram / 4096 / 2)
    let s = try sb("mode=0750,uid=1000,gid=100")
    let st = try s.root.ops.getattr(s.root)
    XCTAssertEqual(st.mode, FileType.directory.rawValue | 0o750)
    XCTAssertEqual(st.uid, 1000)
    XCTAssertEqual(st.gid, 100)
    let d = try sb("")
    XCTAssertEqual(try d.root.ops.getattr(d.root).mode, FileType.directory.rawValue | 0o1777)
    XCTAssertEqual(try sb("mode=7777").root.mode & 0o7777, 0o7777)
  }

  func testTheMountersCredOwnsTheRootByDefault() throws {
    let vfs = VFS()
    try vfs.filesystems.register(MemfsType())
    try vfs.mount("memfs", at: "/", options: MountOptions(), cred: Cred(uid: 7, gid: 8))
    XCTAssertEqual(vfs.root.uid, 7)
    XCTAssertEqual(vfs.root.gid, 8)
  }

  func testGarbageIsEINVAL() throws {
    let bad = [
      "size=abc", "size=1x", "size=-1", "size=", "size=k", "size=101%", "size=%", "size=1.5m",
      "size=99999999999999999999", "size=20000000t", "nr_inodes=q", "nr_inodes=-3", "nr_inodes=",
      "mode=9", "mode=17777", "mode=abc", "mode=", "uid=x", "uid=-1", "uid=4294967295",
      "uid=99999999999", "gid=y", "gid=",
    ]
    for options in bad {
      XCTAssertEqual(vtErrno { _ = try self.sb(options) }, .EINVAL, options)
    }
  }

  func testSecondsParser() throws {
    XCTAssertEqual(try MountOptions(parsing: "t=1.5").seconds("t"), 1.5)
    XCTAssertEqual(try MountOptions(parsing: "t=0").seconds("t"), 0)
    for bad in ["t=-1", "t=nan", "t=inf", "t=x"] {
      XCTAssertEqual(vtErrno { _ = try MountOptions(parsing: bad).seconds("t") }, .EINVAL, bad)
    }
  }

  func testReadOnlyMountRefusesChanges() throws {
    let h = try MemfsHarness(options: "ro")
    XCTAssertTrue(h.sb.readOnly)
    XCTAssertEqual(vtErrno { try h.dir(h.root, "d") }, .EROFS)
    XCTAssertEqual(vtErrno { try h.file(h.root, "f") }, .EROFS)
    XCTAssertEqual(vtErrno { try h.symlink(h.root, "s", "x") }, .EROFS)
    XCTAssertEqual(vtErrno { try h.vfs.unlink(h.root, "x") }, .EROFS)
    XCTAssertEqual(vtErrno { try h.vfs.rmdir(h.root, "x") }, .EROFS)
    XCTAssertEqual(vtErrno { try h.vfs.rename(h.root, "x", h.root, "y") }, .EROFS)
    XCTAssertEqual(
      vtErrno { _ = try h.vfs.setattr(h.root, SetAttr(mode: 0o700), cred: .root) }, .EROFS)
    XCTAssertEqual(
      vtErrno { _ = try h.vfs.open(h.root, flags: Int32(O_WRONLY), cred: .root) }, .EISDIR)
    XCTAssertNil(
      vtErrno {
        let (fh, _) = try h.vfs.open(h.root, flags: 0, cred: .root)
        h.vfs.release(fh)
      })
    XCTAssertEqual(try h.names(h.root), [])
  }

  // MARK: - The registry

  final class FakeType: FileSystemType {
    let name: String
    init(_ name: String) { self.name = name }
    func mount(_ context: MountContext) throws(Errno) -> SuperBlock { throw .EIO }
  }

  func testRegistryRefusesDuplicatesAndUnknownNames() throws {
    let r = FileSystemRegistry()
    try r.register(FakeType("a"))
    try r.register(FakeType("b"))
    XCTAssertEqual(vtErrno { try r.register(FakeType("a")) }, .EBUSY)
    XCTAssertEqual(r.names, ["a", "b"])
    XCTAssertEqual(try r.type(named: "b").name, "b")
    XCTAssertEqual(vtErrno { _ = try r.type(named: "c") }, .ENODEV)
    XCTAssertEqual(vtErrno { try r.unregister(name: "c") }, .EINVAL)
    try r.unregister(name: "a")
    XCTAssertEqual(r.names, ["b"])
    XCTAssertEqual(vtErrno { _ = try r.type(named: "a") }, .ENODEV)
    try r.register(FakeType("a"))
    XCTAssertEqual(r.names, ["b", "a"])
  }

  func testMountingGoesThroughTheRegistry() throws {
    let vfs = VFS()
    XCTAssertEqual(vtErrno { try vfs.mount("memfs", at: "/", options: MountOptions()) }, .ENODEV)
    try vfs.filesystems.register(MemfsType())
    XCTAssertEqual(vtErrno { try vfs.filesystems.register(MemfsType()) }, .EBUSY)
    XCTAssertEqual(
      vtErrno { try vfs.mount("memfs", at: "/x", options: MountOptions()) }, .EINVAL,
      "the first mount is the root")
    try vfs.filesystems.register(FakeType("broken"))
    try vfs.mount("memfs", at: "/", options: MountOptions())
    XCTAssertEqual(vfs.root.ino, 1)
    XCTAssertEqual(vfs.mounts.map(\.path), ["/"])
    let x = try vfs.mkdir(vfs.root, "x", mode: 0o755, cred: .root)
    vfs.forget(x.ino, count: 1)
    XCTAssertEqual(vtErrno { try vfs.mount("broken", at: "/x", options: MountOptions()) }, .EIO)
    XCTAssertEqual(vfs.mounts.count, 1, "a failed mount leaves nothing")
    XCTAssertEqual(
      vtErrno { try vfs.mount("memfs", at: "/x", options: try MountOptions(parsing: "size=z")) },
      .EINVAL)
    let second = try vfs.mount("memfs", at: "/x", options: try MountOptions(parsing: "size=1m"))
    XCTAssertEqual(vfs.mounts.map(\.path), ["/", "/x"])
    XCTAssertTrue(vfs.mounts[1].mountPoint === x)
    XCTAssertNotEqual(second.id, vfs.rootSuperBlock.id)
    XCTAssertEqual(second.maxBlocks, 256)
    XCTAssertEqual(vfs.statfs(second.root).blocks, 256)
    XCTAssertNotEqual(vfs.statfs(vfs.root).blocks, 256)
  }

  func testStandardTreeMountsMemfsAndDev() throws {
    let vfs = try VFS.standard(options: try MountOptions(parsing: "size=1m"))
    XCTAssertTrue(vfs.filesystems.names.contains("memfs"))
    XCTAssertTrue(vfs.rootSuperBlock.fsType is MemfsType)
    XCTAssertEqual(vfs.rootSuperBlock.maxBlocks, 256)
    XCTAssertTrue(vfs.mounts.contains { $0.path == "/dev" })
    let dev = try vfs.resolveUnlocked(vfs.root, "dev")
    XCTAssertFalse(dev.sb === vfs.rootSuperBlock, "/dev is another superblock")
    XCTAssertEqual(
      vtErrno { _ = try VFS.standard(options: try MountOptions(parsing: "size=q")) }, .EINVAL)
  }
}
