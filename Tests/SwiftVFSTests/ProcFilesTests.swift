import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// Every /proc file opens, reads and parses in its documented format.
final class ProcFilesTests: XCTestCase {
  func testTreeListsEveryFile() throws {
    let h = try ProcHarness()
    func names(_ path: String) throws -> [String] {
      let (fh, file) = try h.vfs.open(try h.inode(path), flags: O_RDONLY | O_DIRECTORY, cred: .root)
      defer { h.vfs.release(fh) }
      var out: [String] = []
      try h.vfs.readdir(file, from: 0) { entry in
        out.append(entry.name.description)
        return true
      }
      return out
    }
    XCTAssertEqual(
      try names("proc"),
      [
        ".", "..", "devices", "filesystems", "meminfo", "mounts", "partitions", "vmstat",
        "sysrq-trigger", "sys", "vfs",
      ])
    XCTAssertEqual(try names("proc/sys"), [".", "..", "fs", "vm"])
    XCTAssertEqual(
      try names("proc/sys/fs"),
      [".", "..", "dentry-state", "inode-nr", "inode-state", "dcache-max"])
    XCTAssertEqual(try names("proc/sys/vm"), [".", "..", "drop_caches"])
    XCTAssertEqual(
      try names("proc/vfs"),
      [
        ".", "..", "dcache", "inodes", "requests", "connection", "objects", "devnodes",
        "superblocks", "check", "trace", "reset",
      ])
    // A listing resumes from a cookie, as getdents does.
    let (fh, file) = try h.vfs.open(try h.inode("proc/vfs"), flags: O_RDONLY, cred: .root)
    defer { h.vfs.release(fh) }
    var rest: [String] = []
    try h.vfs.readdir(file, from: 3) { entry in
      rest.append(entry.name.description)
      return true
    }
    XCTAssertEqual(
      rest,
      [
        "inodes", "requests", "connection", "objects", "devnodes", "superblocks", "check", "trace",
        "reset",
      ])
  }

  func testModesAndOwners() throws {
    let h = try ProcHarness()
    let expected: [(String, UInt32)] = [
      ("proc", 0o040555), ("proc/sys/fs", 0o040555), ("proc/devices", 0o100444),
      ("proc/sys/fs/dentry-state", 0o100444), ("proc/sys/fs/dcache-max", 0o100644),
      ("proc/sys/vm/drop_caches", 0o100200), ("proc/vfs/reset", 0o100200),
      ("proc/vfs/trace", 0o100444),
    ]
    for (path, mode) in expected {
      let st = try h.vfs.getattr(try h.inode(path))
      XCTAssertEqual(st.mode, mode, path)
      XCTAssertEqual(st.uid, 0, path)
      XCTAssertEqual(st.size, 0, path)
    }
    // Directories count their subdirectories' "..".
    XCTAssertEqual(try h.vfs.getattr(try h.inode("proc/sys")).nlink, 4)
    XCTAssertEqual(try h.vfs.getattr(try h.inode("proc")).nlink, 4)
    XCTAssertEqual(h.vfs.statfs(try h.inode("proc")).blockSize, 4096)
  }

  func testDentryStateHasTheKernelsSixFields() throws {
    let h = try ProcHarness()
    let text = try h.read("proc/sys/fs/dentry-state")
    let v = try XCTUnwrap(tabbedIntegers(text), text)
    XCTAssertEqual(v.count, 6)
    let s = h.vfs.dcache.stats
    XCTAssertEqual(v[0], s.entries)
    XCTAssertEqual(v[1], s.unused)
    XCTAssertEqual(v[2], 45)  // age_limit
    XCTAssertEqual(v[3], 0)  // want_pages
    XCTAssertEqual(v[4], s.negative)
    XCTAssertEqual(v[5], 0)
    XCTAssertGreaterThan(v[0], 0)
    XCTAssertLessThanOrEqual(v[1], v[0])
  }

  func testInodeNrAndInodeState() throws {
    let h = try ProcHarness()
    let nr = try XCTUnwrap(tabbedIntegers(try h.read("proc/sys/fs/inode-nr")))
    let state = try XCTUnwrap(tabbedIntegers(try h.read("proc/sys/fs/inode-state")))
    XCTAssertEqual(nr.count, 2)
    XCTAssertEqual(state.count, 7)
    XCTAssertEqual(Array(state[0..<2]), nr)
    XCTAssertEqual(Array(state[2...]), [0, 0, 0, 0, 0])
    let allocated = h.vfs.mounts.reduce(0) { $0 + Int($1.superBlock.usedInodes) }
    XCTAssertEqual(nr[0], allocated)
    // The file being read is open (in use) while its text is made.
    XCTAssertEqual(nr[1], allocated - (h.vfs.icache.stats.inUse + 1))
    // A new file is one more inode, unused once the kernel forgets it.
    try h.makeFile("f")
    let after = try XCTUnwrap(tabbedIntegers(try h.read("proc/sys/fs/inode-nr")))
    XCTAssertEqual(after[0], nr[0] + 1)
  }

  func testDcacheReport() throws {
    let h = try ProcHarness()
    let r = try h.dcacheReport(try h.inode("proc/vfs/dcache"))
    XCTAssertEqual(
      Set(r.keys),
      [
        "entries", "unused", "negative", "capacity", "lookups", "hits", "misses",
        "negative_hits", "hit_ratio", "evictions", "buckets", "longest_chain",
      ])
    let s = h.vfs.dcache.stats
    XCTAssertEqual(r["entries"], "\(s.entries)")
    XCTAssertEqual(r["capacity"], "\(Dcache.defaultCapacity)")
    XCTAssertEqual(r["buckets"], "\(s.buckets)")
    XCTAssertTrue(r["hit_ratio"]!.hasSuffix("%"), r["hit_ratio"]!)
    XCTAssertGreaterThanOrEqual(Int(r["longest_chain"]!)!, 1)
  }

  func testInodesPerSuperBlock() throws {
    let h = try ProcHarness()
    let f = try h.makeFile("held")
    _ = try h.vfs.lookup(h.vfs.root, "held")  // the kernel holds it: one lookup
    let (fh, _) = try h.vfs.open(f, flags: O_RDONLY, cred: .root)
    let lines = try h.read("proc/vfs/inodes").split(separator: "\n").map {
      $0.split(separator: " ").map(String.init)
    }
    XCTAssertEqual(
      lines[0],
      [
        "sb", "type", "mount", "in_use", "lookups", "evicted", "open_files", "allocated", "dropped",
      ])
    let rows = Dictionary(uniqueKeysWithValues: lines.dropFirst().map { ($0[2], $0) })
    XCTAssertEqual(Set(rows.keys), ["/", "/dev", "/proc"])
    let root = try XCTUnwrap(rows["/"])
    XCTAssertEqual(root[1], "memfs")
    // The root (pinned) and "held": in use; one lookup on "held" plus the root's pin.
    XCTAssertEqual(Int(root[3]), 2)
    XCTAssertEqual(Int(root[4]), 2)
    XCTAssertEqual(Int(root[6]), 1)
    XCTAssertEqual(Int(root[8]), 0, "memfs keeps every inode: none dropped")
    XCTAssertEqual(rows["/proc"]?[1], "proc")
    // Evicted counts an unlinked file once nothing holds it.
    try h.vfs.unlink(h.vfs.root, "held")
    h.vfs.forget(f.ino, count: 1)
    XCTAssertEqual(h.vfs.rootSuperBlock.evictedInodes, 0)  // still open
    h.vfs.release(fh)
    XCTAssertEqual(h.vfs.rootSuperBlock.evictedInodes, 1)
    let after = try h.read("proc/vfs/inodes").split(separator: "\n").dropFirst()
      .map { $0.split(separator: " ").map(String.init) }
    let rootAfter = try XCTUnwrap(after.first { $0[2] == "/" })
    XCTAssertEqual(Array(rootAfter[3...6]), ["1", "1", "1", "0"])
  }

  func testRequestTableListsOpcodes() throws {
    let h = try ProcHarness()
    h.vfs.requests.declareKinds(FuseOpcode.kernelTable)  // as the FUSE bridge does
    h.vfs.requests.record(
      .init(
        opcode: "LOOKUP", operation: "inode_operations.lookup", ino: 1, detail: "x",
        fileSystem: "memfs", error: .ENOENT, latencyNanos: 12_000))
    let lines = try h.read("proc/vfs/requests").split(separator: "\n").map(String.init)
    XCTAssertTrue(lines[0].contains("opcode"))
    XCTAssertTrue(lines[0].contains("p99_us"))
    let lookup = try XCTUnwrap(lines.first { $0.contains(" LOOKUP ") }).split(separator: " ")
    XCTAssertEqual(
      lookup.map(String.init), ["1", "LOOKUP", "inode_operations.lookup", "1", "1", "12.0", "12.0"])
    let getlk = try XCTUnwrap(lines.first { $0.contains(" GETLK ") }).split(separator: " ")
    XCTAssertEqual(getlk.map(String.init), ["31", "GETLK", "unhandled", "0", "0", "-", "-"])
    XCTAssertTrue(lines.last!.hasPrefix("# trace: 0 readers"), lines.last!)
  }

  func testFilesystemsMountsDevices() throws {
    let h = try ProcHarness()
    let fs = try h.read("proc/filesystems")
    XCTAssertTrue(fs.contains("nodev\tmemfs\n"), fs)
    XCTAssertTrue(fs.contains("nodev\tproc\n"), fs)
    for line in fs.split(separator: "\n") { XCTAssertTrue(line.hasPrefix("nodev\t"), String(line)) }

    let mounts = try h.read("proc/mounts").split(separator: "\n").map {
      $0.split(separator: " ").map(String.init)
    }
    XCTAssertEqual(mounts.map { $0[1] }, ["/", "/dev", "/proc"])
    for m in mounts {
      XCTAssertEqual(m.count, 6)
      XCTAssertEqual(m[0], m[2])
      XCTAssertTrue(m[3].hasPrefix("rw"))
      XCTAssertEqual(Array(m[4...]), ["0", "0"])
    }
    XCTAssertEqual(mounts[2][2], "proc")

    try h.vfs.chrdevs.registerRegion(try DevT(major: 240, minor: 0), count: 4, name: "hello")
    let devices = try h.read("proc/devices")
    let parts = devices.components(separatedBy: "\n\n")
    XCTAssertEqual(parts.count, 2, devices)
    XCTAssertTrue(parts[0].hasPrefix("Character devices:\n"))
    XCTAssertEqual(parts[1], "Block devices:\n")
    let majors = parts[0].split(separator: "\n").dropFirst()
    XCTAssertTrue(majors.contains("240 hello"), devices)
    for line in majors {
      // "%3d %s": the major right-aligned in three columns.
      XCTAssertEqual(line[line.index(line.startIndex, offsetBy: 3)], " ", String(line))
      XCTAssertNotNil(Int(line.prefix(3).trimmingCharacters(in: .whitespaces)), String(line))
    }
    let sortedMajors = majors.map { Int($0.prefix(3).trimmingCharacters(in: .whitespaces))! }
    XCTAssertEqual(sortedMajors, sortedMajors.sorted())
  }

  func testObjects() throws {
    let h = try ProcHarness()
    let data = try h.makeFile("data", String(repeating: "x", count: 10_000))  // three pages
    let (fh, _) = try h.vfs.open(data, flags: O_RDONLY, cred: .root)
    defer { h.vfs.release(fh) }
    let lines = try h.read("proc/vfs/objects").split(separator: "\n").map {
      $0.split(separator: " ").map(String.init)
    }
    XCTAssertEqual(lines[0], ["#", "name", "active_objs", "objsize", "total_kb"])
    let rows = Dictionary(uniqueKeysWithValues: lines.dropFirst().map { ($0[0], $0) })
    XCTAssertEqual(Set(rows.keys), ["inode", "dentry", "file", "page"])
    XCTAssertEqual(rows["page"]?[1], "3")
    XCTAssertEqual(rows["page"]?[2], "4096")
    XCTAssertEqual(rows["page"]?[3], "12")
    XCTAssertEqual(rows["file"]?[1], "1")  // "data" (the objects file is made before it counts)
    XCTAssertEqual(Int(rows["dentry"]![1]), h.vfs.dcache.stats.entries)
    for row in rows.values { XCTAssertGreaterThan(Int(row[2])!, 0, row[0]) }
  }

  func testDeviceNodes() throws {
    let h = try ProcHarness()
    let null = try h.vfs.lookup(try h.inode("dev"), "null")
    h.vfs.forget(null.ino, count: 1)
    let devDir = try h.inode("dev")
    let orphan = try h.vfs.mknod(
      devDir, "orphan", mode: FileType.characterDevice.rawValue | 0o600,
      rdev: try DevT(major: 4000, minor: 7), cred: .root)
    h.vfs.forget(orphan.ino, count: 1)
    let lines = try h.read("proc/vfs/devnodes").split(separator: "\n").map {
      $0.split(separator: " ").map(String.init)
    }
    XCTAssertEqual(lines[0], ["#", "path", "type", "major:minor", "driver"])
    let rows = Dictionary(uniqueKeysWithValues: lines.dropFirst().map { ($0[0], $0) })
    let rdev = try h.vfs.getattr(null).rdev
    XCTAssertEqual(
      rows["/dev/null"], ["/dev/null", "c", rdev.description, h.vfs.chrdevs.cdev(for: rdev)!.name])
    XCTAssertEqual(rows["/dev/orphan"], ["/dev/orphan", "c", "4000:7", "-"])
  }

  /// A snapshot is taken at open: a reader that reads in pieces sees one state.
  func testSnapshotAtOpen() throws {
    let h = try ProcHarness()
    let state = try h.inode("proc/sys/fs/dentry-state")
    let (fh, file) = try h.vfs.open(state, flags: O_RDONLY, cred: .root)
    defer { h.vfs.release(fh) }
    XCTAssertTrue(file.directIO)
    try h.makeFile("new")
    var buffer = [UInt8](repeating: 0, count: 256)
    let n = try buffer.withUnsafeMutableBytes { b throws(Errno) in
      try h.vfs.read(file, into: b, at: 0)
    }
    let first = String(decoding: buffer[0..<n], as: UTF8.self)
    XCTAssertNotEqual(first, try h.read(state))
    let m = try buffer.withUnsafeMutableBytes { b throws(Errno) in
      try h.vfs.read(file, into: b, at: Int64(n))
    }
    XCTAssertEqual(m, 0)
  }
}
