import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// AtimePolicy: mount(8)'s words to flags as path_mount() sets them, and
/// atime_needs_update() on memfs reads, readlink and readdir.
final class AtimePolicyTests: MemfsTestCase {
  private func policy(_ text: String) throws -> AtimePolicy {
    AtimePolicy(options: try MountOptions(parsing: text))
  }

  func testOptionsToFlagsAsPathMount() throws {
    XCTAssertEqual(AtimePolicy(options: MountOptions()), .default)
    XCTAssertEqual(try policy("size=1g"), AtimePolicy(relatime: true))
    XCTAssertEqual(try policy("noatime"), AtimePolicy(noatime: true, relatime: false))
    XCTAssertEqual(try policy("strictatime"), AtimePolicy(relatime: false))
    XCTAssertEqual(try policy("noatime,strictatime"), AtimePolicy(relatime: false))
    XCTAssertEqual(try policy("noatime,atime"), .default)
    XCTAssertEqual(try policy("strictatime,nostrictatime"), .default)
    XCTAssertEqual(try policy("nodiratime"), AtimePolicy(nodiratime: true))
    XCTAssertEqual(try policy("nodiratime,diratime"), .default)
    XCTAssertEqual(try policy("relatime,norelatime"), .default, "MS_RELATIME is the default")
  }

  func testMountinfoWords() {
    XCTAssertEqual(AtimePolicy(mountinfoOptions: "rw,relatime"), .default)
    XCTAssertEqual(
      AtimePolicy(mountinfoOptions: "rw,nosuid,noatime"),
      AtimePolicy(noatime: true, relatime: false))
    XCTAssertEqual(AtimePolicy(mountinfoOptions: "rw"), AtimePolicy(relatime: false))
    XCTAssertEqual(
      AtimePolicy(mountinfoOptions: "rw,nodiratime,relatime"), AtimePolicy(nodiratime: true))
    XCTAssertTrue(
      AtimePolicy(mountinfoOptions: "ro,relatime").noatime, "a read-only mount moves no atime")
    for p in [
      AtimePolicy.default, AtimePolicy(noatime: true, relatime: false),
      AtimePolicy(relatime: false),
      AtimePolicy(nodiratime: true),
    ] {
      XCTAssertEqual(AtimePolicy(mountinfoOptions: "rw," + p.description), p, p.description)
    }
  }

  /// Sets atime `offset` seconds from now (mtime and ctime stay now), reads.
  private func readMoves(_ f: Inode, offset: Int64) throws -> Bool {
    let set = Timestamp(sec: Timestamp.now.sec + offset)
    f.lock.withLock { f.atime = set }
    _ = try h.readAll(f)
    return f.lock.withLock { f.atime } != set
  }

  private func listMoves(_ d: Inode, offset: Int64) throws -> Bool {
    let set = Timestamp(sec: Timestamp.now.sec + offset)
    d.lock.withLock { d.atime = set }
    _ = try h.names(d)
    return d.lock.withLock { d.atime } != set
  }

  func testReadsFollowThePolicy() throws {
    let f = try h.file(root, "f", [1, 2, 3])
    let d = try h.dir(root, "d")
    let cases: [(AtimePolicy, [Bool])] = [
      (.default, [false, true, false, true]),
      (AtimePolicy(noatime: true, relatime: false), [false, false, false, false]),
      (AtimePolicy(relatime: false), [true, true, true, true]),
      (AtimePolicy(nodiratime: true), [false, true, false, false]),
      (AtimePolicy(nodiratime: true, relatime: false), [true, true, false, false]),
    ]
    for (p, want) in cases {
      vfs.atimePolicy = p
      XCTAssertEqual(h.sb.atimePolicy, p, "every superblock gets the mount's flags")
      let got = [
        try readMoves(f, offset: 3600), try readMoves(f, offset: -2 * 86400),
        try listMoves(d, offset: 3600), try listMoves(d, offset: -2 * 86400),
      ]
      XCTAssertEqual(got, want, "\(p): file ahead, file old, dir ahead, dir old")
    }
  }

  func testLaterMountsGetThePolicy() throws {
    vfs.atimePolicy = AtimePolicy(noatime: true, relatime: false)
    let sb = try h.mountSecondMemfs(at: "/m")
    XCTAssertEqual(sb.atimePolicy, AtimePolicy(noatime: true, relatime: false))
  }

  /// An open whose reads must move atime does not let the kernel keep its cache.
  func testOpenDropsTheKernelCacheWhenAtimeIsDue() throws {
    let f = try h.file(root, "f", [1])
    vfs.atimePolicy = .default
    f.lock.withLock { f.atime = Timestamp(sec: Timestamp.now.sec + 3600) }
    var (fh, file) = try vfs.open(f, flags: Int32(O_RDONLY), cred: .root)
    XCTAssertTrue(file.keepCache, "relatime, atime ahead: nothing due, the cache stays")
    vfs.release(fh)
    vfs.atimePolicy = AtimePolicy(relatime: false)
    (fh, file) = try vfs.open(f, flags: Int32(O_RDONLY), cred: .root)
    XCTAssertFalse(file.keepCache, "strictatime: every read is due")
    vfs.release(fh)
  }
}
