// The block layer and the page cache seen from /proc and /dev of a standard
// VFS: /proc/partitions and /proc/devices list the disks of
// `BlockDeviceRegistry.of(vfs)`, their block nodes come and go in devtmpfs,
// /proc/meminfo and /proc/vmstat follow `PageCache.of(vfs)`, drop_caches
// drops its clean pages, and its bios show in /proc/vfs/trace. Also the
// core's registration points (subsystems, proc sections, shrinkers, node
// requests) on their own, and the `cache_size=` parser.

import Foundation
import SwiftVFS
import Synchronization
import XCTest

@testable import SwiftVFSBlock
@testable import SwiftVFSCore
@testable import SwiftVFSFileSystems

#if canImport(Glibc)
  import Glibc
#endif

/// A file whose page `i` is device block `i` (4 KiB blocks), through the
/// page cache's readBlocks/writeBlocks, so that its bios reach the trace.
private struct IdentityFileOps: AddressSpaceOperations {
  let device: BlockDevice

  func readFolio(_ mapping: AddressSpace, index: UInt64, into page: UnsafeMutableRawBufferPointer)
    throws(Errno)
  {
    try mapping.cache.readBlocks([index], blockSize: PageCache.pageSize, from: device, into: page)
  }

  func writepage(_ mapping: AddressSpace, index: UInt64, from page: UnsafeRawBufferPointer)
    throws(Errno)
  {
    try mapping.cache.writeBlocks([index], blockSize: PageCache.pageSize, to: device, from: page)
  }
}

final class BlockVisibilityTests: XCTestCase {
  private var scratch: ScratchDirectory!
  private var directory: String { scratch.path }

  override func setUpWithError() throws {
    scratch = try ScratchDirectory("swiftvfs-blockproc")
  }

  override func tearDownWithError() throws {
    try scratch?.remove()
    scratch = nil
  }

  /// A zero-filled image file of `bytes` bytes in the temporary directory.
  private func makeImage(_ name: String = "disk.img", bytes: Int) throws -> String {
    try scratch.makeImage(name, bytes: bytes)
  }

  /// The kB values of /proc/meminfo by name ("Cached" -> 16).
  private func meminfo(_ h: ProcHarness) throws -> [String: UInt64] {
    var out: [String: UInt64] = [:]
    for line in try h.read("proc/meminfo").split(separator: "\n") {
      let f = line.split(separator: " ", omittingEmptySubsequences: true)
      XCTAssertEqual(f.count, 3, "line \(line)")
      XCTAssertEqual(f.last, "kB", "line \(line)")
      guard f.count == 3, f[0].hasSuffix(":"), let value = UInt64(f[1]) else { continue }
      out[String(f[0].dropLast())] = value
    }
    return out
  }

  /// The values of /proc/vmstat by name.
  private func vmstat(_ h: ProcHarness) throws -> [String: UInt64] {
    var out: [String: UInt64] = [:]
    for line in try h.read("proc/vmstat").split(separator: "\n") {
      let f = line.split(separator: " ")
      XCTAssertEqual(f.count, 2, "line \(line)")
      if f.count == 2, let value = UInt64(f[1]) { out[String(f[0])] = value }
    }
    return out
  }

  /// stat of `path` through the VFS.
  private func stat(_ h: ProcHarness, _ path: String) throws -> Stat {
    try h.vfs.getattr(try h.inode(path))
  }

  // MARK: - /proc/partitions, /proc/devices, /dev

  func testPartitionsDevicesAndDevNodesFollowTheRegistry() throws {
    let h = try ProcHarness()
    let header = "major minor  #blocks  name\n\n"
    XCTAssertEqual(try h.read("proc/partitions"), header)
    let devicesBefore = try h.read("proc/devices")
    XCTAssertTrue(devicesBefore.hasPrefix("Character devices:\n"))
    XCTAssertTrue(devicesBefore.hasSuffix("\n\nBlock devices:\n"), devicesBefore)

    let disks = BlockDeviceRegistry.of(h.vfs)
    XCTAssertTrue(BlockDeviceRegistry.of(h.vfs) === disks, "one registry per VFS")
    XCTAssertEqual(try h.read("proc/partitions"), header, "a registry with no disk")

    let ram = try disks.addRamDisk(sizeInBytes: 1 << 20)
    let loop = try disks.addImageFile(path: makeImage(bytes: 2 << 20))
    XCTAssertEqual(ram.name, "ram0")
    XCTAssertEqual(loop.name, "loop0")

    let ramLine = "   1        0       1024 ram0\n"
    let loopLine = "   7        0       2048 loop0\n"
    XCTAssertEqual(try h.read("proc/partitions"), header + ramLine + loopLine)
    XCTAssertEqual(try h.read("proc/devices"), devicesBefore + "  1 ramdisk\n  7 loop\n")

    // Block nodes as devtmpfs makes them: root's, 0600, the disk's number.
    let loopStat = try stat(h, "dev/loop0")
    XCTAssertEqual(loopStat.mode, FileType.blockDevice.rawValue | 0o600)
    XCTAssertEqual(loopStat.rdev, try DevT(major: 7, minor: 0))
    XCTAssertEqual(loopStat.uid, 0)
    XCTAssertEqual(loopStat.gid, 0)
    let ramStat = try stat(h, "dev/ram0")
    XCTAssertEqual(ramStat.mode, FileType.blockDevice.rawValue | 0o600)
    XCTAssertEqual(ramStat.rdev, try DevT(major: 1, minor: 0))
    let devnodes = try h.read("proc/vfs/devnodes")
    XCTAssertTrue(
      devnodes.split(separator: "\n").contains {
        $0.hasPrefix("/dev/loop0 ") && $0.contains(" b ") && $0.contains("7:0")
      }, devnodes)

    // del_gendisk(): the node and the line go; the major stays registered.
    try disks.deleteDisk(loop.dev)
    assertProcErrno(.ENOENT, try h.inode("dev/loop0"))
    XCTAssertEqual(try h.read("proc/partitions"), header + ramLine)
    XCTAssertEqual(try h.read("proc/devices"), devicesBefore + "  1 ramdisk\n  7 loop\n")
    XCTAssertEqual(try stat(h, "dev/ram0").rdev, try DevT(major: 1, minor: 0))

    // The minor is free again: a new image is loop0, with a node.
    let again = try disks.addImageFile(path: makeImage("second.img", bytes: 1 << 20))
    XCTAssertEqual(again.name, "loop0")
    XCTAssertEqual(try stat(h, "dev/loop0").rdev, try DevT(major: 7, minor: 0))
    XCTAssertEqual(
      try h.read("proc/partitions"), header + ramLine + "   7        0       1024 loop0\n")
  }

  func testAddDiskOfADriversOwnMajorGetsANode() throws {
    let h = try ProcHarness()
    let disks = BlockDeviceRegistry.of(h.vfs)
    let major = try disks.registerBlkdev(name: "mydisk")
    XCTAssertEqual(major, 254, "dynamic majors are given from 254 down")
    let device = try BlockDevice(
      name: "mydisk0", dev: DevT(major: major, minor: 3), driver: RamDisk(sizeInBytes: 8192))
    try disks.addDisk(device)
    let st = try stat(h, "dev/mydisk0")
    XCTAssertEqual(st.mode, FileType.blockDevice.rawValue | 0o600)
    XCTAssertEqual(st.rdev, try DevT(major: 254, minor: 3))
    XCTAssertEqual(
      try h.read("proc/partitions"),
      "major minor  #blocks  name\n\n 254        3          8 mydisk0\n")
    XCTAssertTrue(try h.read("proc/devices").hasSuffix("Block devices:\n254 mydisk\n"))
    try disks.deleteDisk(device.dev)
    assertProcErrno(.ENOENT, try h.inode("dev/mydisk0"))
  }

  func testDeleteLeavesANodeThatIsNoLongerTheDisks() throws {
    let h = try ProcHarness()
    let disks = BlockDeviceRegistry.of(h.vfs)
    let ram = try disks.addRamDisk(sizeInBytes: 1 << 16)
    let dev = try h.inode("dev")
    // A user replaces /dev/ram0 with a char node of another number.
    try h.vfs.unlink(dev, FileName("ram0"))
    let made = try h.vfs.mknod(
      dev, FileName("ram0"), mode: FileType.characterDevice.rawValue | 0o644,
      rdev: DevT(major: 1, minor: 3), cred: .root)
    h.vfs.forget(made.ino, count: 1)
    try disks.deleteDisk(ram.dev)
    let st = try stat(h, "dev/ram0")
    XCTAssertEqual(st.mode, FileType.characterDevice.rawValue | 0o644, "dev_mynode() says no")
    XCTAssertEqual(st.rdev, try DevT(major: 1, minor: 3))
  }

  func testDisksOfAVFSWithoutDevGetNoNodeAndStillWork() throws {
    let vfs = try VFS.standard(options: try MountOptions(parsing: "bare"))
    XCTAssertFalse(vfs.deviceNodeRequests.hasHandler)
    let disks = BlockDeviceRegistry.of(vfs)
    let ram = try disks.addRamDisk(sizeInBytes: 1 << 16)
    XCTAssertEqual(vfs.procSections.text(of: "partitions"), "   1        0         64 ram0\n")
    try disks.deleteDisk(ram.dev)
    XCTAssertEqual(vfs.procSections.text(of: "partitions"), "")
  }

  func testAPlainRegistryStaysOutOfTheVFS() throws {
    let h = try ProcHarness()
    let standalone = BlockDeviceRegistry()
    try standalone.addRamDisk(sizeInBytes: 1 << 16)
    assertProcErrno(.ENOENT, try h.inode("dev/ram0"))
    XCTAssertEqual(try h.read("proc/partitions"), "major minor  #blocks  name\n\n")
  }

  // MARK: - /proc/meminfo, /proc/vmstat, drop_caches

  func testMeminfoWithoutAPageCacheShowsZeros() throws {
    let h = try ProcHarness()
    let text = try h.read("proc/meminfo")
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    XCTAssertEqual(lines.count, 8, text)  // 7 lines and the empty string after the last \n
    XCTAssertEqual(
      lines.prefix(3).map { String($0.prefix(16)) },
      [
        "MemTotal:       ", "MemFree:        ", "MemAvailable:   ",
      ])
    for line in lines.prefix(3) {
      XCTAssertEqual(line.count, 16 + 8 + 3, "show_val_kb() widths: \(line)")
      XCTAssertTrue(line.hasSuffix(" kB"))
    }
    let values = try meminfo(h)
    XCTAssertGreaterThan(values["MemTotal"] ?? 0, 0)
    XCTAssertLessThanOrEqual(values["MemFree"] ?? .max, values["MemTotal"] ?? 0)
    XCTAssertTrue(
      text.hasSuffix(
        "Buffers:               0 kB\nCached:                0 kB\n"
          + "Dirty:                 0 kB\nWriteback:             0 kB\n"), text)
    XCTAssertEqual(try h.read("proc/vmstat"), "")
  }

  func testMeminfoAndVmstatFollowThePageCacheAndDropCachesKeepsDirtyPages() throws {
    let h = try ProcHarness()
    let cache = PageCache.of(h.vfs)
    XCTAssertTrue(PageCache.of(h.vfs) === cache, "one page cache per VFS")
    XCTAssertEqual(h.vfs.shrinkers.names, ["pagecache"])
    let ram = try BlockDeviceRegistry.of(h.vfs).addRamDisk(sizeInBytes: 1 << 20)
    let file = AddressSpace(cache: cache, ino: 12, operations: IdentityFileOps(device: ram))

    var m = try meminfo(h)
    XCTAssertEqual(m["Cached"], 0)
    XCTAssertEqual(m["Buffers"], 0)
    XCTAssertEqual(
      try h.read("proc/vmstat"),
      "nr_dirty 0\nnr_writeback 0\npgpgin 0\npgpgout 0\npagecache_hits 0\npagecache_misses 0\n")

    // Four pages read: four misses, 16 kB cached and read in.
    var buffer = [UInt8](repeating: 0, count: 4 * PageCache.pageSize)
    try buffer.withUnsafeMutableBytes { b in try file.read(at: 0, into: b) }
    m = try meminfo(h)
    XCTAssertEqual(m["Cached"], 16)
    XCTAssertEqual(m["Dirty"], 0)
    var v = try vmstat(h)
    XCTAssertEqual(v["pgpgin"], 16)
    XCTAssertEqual(v["pagecache_misses"], 4)
    XCTAssertEqual(v["pagecache_hits"], 0)

    // Read again: four hits, nothing more read in.
    try buffer.withUnsafeMutableBytes { b in try file.read(at: 0, into: b) }
    v = try vmstat(h)
    XCTAssertEqual(v["pagecache_hits"], 4)
    XCTAssertEqual(v["pgpgin"], 16)

    // Dirty part of page 1.
    let patch = [UInt8](repeating: 0xAB, count: 100)
    try patch.withUnsafeBytes { b in try file.write(at: 4096 + 10, from: b) }
    m = try meminfo(h)
    XCTAssertEqual(m["Dirty"], 4)
    XCTAssertEqual(try vmstat(h)["nr_dirty"], 1)

    // echo 1 > drop_caches: the three clean pages go, the dirty one stays.
    try h.write(try h.inode("proc/sys/vm/drop_caches"), "1\n")
    m = try meminfo(h)
    XCTAssertEqual(m["Cached"], 4)
    XCTAssertEqual(m["Dirty"], 4)
    XCTAssertEqual(file.cachedPageCount, 1)
    XCTAssertEqual(file.state(ofPage: 1)?.contains(.dirty), true)
    XCTAssertEqual(cache.stats.evictions, 3)

    // Written back, then echo 3: nothing cached; the data is on the disk.
    try file.sync()
    m = try meminfo(h)
    XCTAssertEqual(m["Dirty"], 0)
    XCTAssertEqual(try vmstat(h)["pgpgout"], 4)
    try h.write(try h.inode("proc/sys/vm/drop_caches"), "3")
    XCTAssertEqual(try meminfo(h)["Cached"], 0)
    var reread = [UInt8](repeating: 0, count: 100)
    try reread.withUnsafeMutableBytes { b in try file.read(at: 4096 + 10, into: b) }
    XCTAssertEqual(reread, patch)

    // Metadata buffers are the Buffers line.
    let buffers = try BufferCache(cache: cache, device: ram, blockSize: 1024)
    try buffers.read(block: 5).release()
    m = try meminfo(h)
    XCTAssertEqual(m["Buffers"], 1)
    XCTAssertEqual(m["Cached"], 4, "the page read again above")

    // 2 (dentries and inodes) leaves the page cache alone.
    try h.write(try h.inode("proc/sys/vm/drop_caches"), "2")
    XCTAssertEqual(try meminfo(h)["Buffers"], 1)
  }

  func testTraceShowsBiosOnlyWhileAReaderIsAttached() throws {
    let h = try ProcHarness()
    let cache = PageCache.of(h.vfs)
    let ram = try BlockDeviceRegistry.of(h.vfs).addRamDisk(sizeInBytes: 1 << 20)
    let file = AddressSpace(cache: cache, ino: 7, operations: IdentityFileOps(device: ram))
    var page = [UInt8](repeating: 0, count: PageCache.pageSize)
    let trace = h.vfs.requests.trace

    // No reader: no line is made.
    try page.withUnsafeMutableBytes { b in try file.read(at: 0, into: b) }
    XCTAssertEqual(trace.lineCount, 0)

    // A reader of /proc/vfs/trace (O_NONBLOCK: EAGAIN at the end of the stream).
    let (fh, traceFile) = try h.vfs.open(
      try h.inode("proc/vfs/trace"), flags: O_RDONLY | O_NONBLOCK, cred: .root)
    try page.withUnsafeMutableBytes { b in
      try file.read(at: UInt64(2 * PageCache.pageSize), into: b)
    }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      do {
        let n = try chunk.withUnsafeMutableBytes { b throws(Errno) in
          try h.vfs.read(traceFile, into: b, at: Int64(out.count))
        }
        if n == 0 { break }
        out += chunk[0..<n]
      } catch let error as Errno where error == .EAGAIN {
        break
      }
    }
    h.vfs.release(fh)
    let lines = String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init)
    XCTAssertEqual(lines.first.map { $0.hasPrefix("#") }, true, "the header")
    XCTAssertEqual(
      Array(lines.dropFirst()),
      [
        PageCache.traceIndent + "pagecache miss ino 7 page 2",
        PageCache.traceIndent + "bio READ ram0 sectors 16..23 (4096 bytes)",
      ])

    // The reader is gone: nothing is traced any more.
    let linesAfter = trace.lineCount
    try page.withUnsafeMutableBytes { b in
      try file.read(at: UInt64(3 * PageCache.pageSize), into: b)
    }
    XCTAssertEqual(trace.lineCount, linesAfter)
  }

  // MARK: - The core's registration points

  func testProcSectionsKeepRegistrationOrder() {
    let sections = ProcSections()
    XCTAssertNil(sections.text(of: "partitions"))
    sections.register(file: "partitions", key: "b") { "B\n" }
    sections.register(file: "partitions", key: "a") { "A\n" }
    sections.register(file: "devices", key: "b") { "D\n" }
    XCTAssertEqual(sections.text(of: "partitions"), "B\nA\n")
    sections.register(file: "partitions", key: "b") { "B2\n" }
    XCTAssertEqual(sections.text(of: "partitions"), "B2\nA\n", "replaced in place")
    XCTAssertEqual(sections.keys(of: "partitions"), ["b", "a"])
    sections.unregister(file: "partitions", key: "b")
    sections.unregister(file: "partitions", key: "none")
    XCTAssertEqual(sections.text(of: "partitions"), "A\n")
    sections.unregister(file: "partitions", key: "a")
    XCTAssertNil(sections.text(of: "partitions"))
    XCTAssertEqual(sections.text(of: "devices"), "D\n")
  }

  func testShrinkersRunInOrderAndReportWhatTheyFreed() {
    let shrinkers = Shrinkers()
    let calls = Mutex<[String]>([])
    shrinkers.register(name: "one") {
      calls.withLock { $0.append("one") }
      return 10
    }
    shrinkers.register(name: "two") {
      calls.withLock { $0.append("two") }
      return -5  // nonsense is counted as nothing
    }
    let freed = shrinkers.shrinkAll()
    XCTAssertEqual(freed.map(\.name), ["one", "two"])
    XCTAssertEqual(freed.map(\.freed), [10, 0])
    XCTAssertEqual(calls.withLock { $0 }, ["one", "two"])
    shrinkers.unregister(name: "one")
    XCTAssertEqual(shrinkers.names, ["two"])
  }

  func testSubsystemIsMadeOnceEvenWhenThreadsAskTogether() {
    final class Thing {}
    let vfs = VFS()
    let made = Mutex(0)
    let results = Mutex<[ObjectIdentifier]>([])
    DispatchQueue.concurrentPerform(iterations: 16) { _ in
      let thing = vfs.subsystem(Thing.self) {
        made.withLock { $0 += 1 }
        return Thing()
      }
      results.withLock { $0.append(ObjectIdentifier(thing)) }
    }
    XCTAssertEqual(made.withLock { $0 }, 1)
    XCTAssertEqual(Set(results.withLock { $0 }).count, 1)
    // A make may ask for another subsystem (the lock is recursive).
    final class Other {}
    let other = vfs.subsystem(Other.self) {
      _ = vfs.subsystem(Thing.self) { Thing() }
      return Other()
    }
    XCTAssertTrue(vfs.subsystem(Other.self) { Other() } === other)
  }

  /// Creates asked for before a handler exists are kept (a delete drops
  /// its create) and made once, in name order, after the handler comes.
  func testNodeRequestsBeforeAHandlerAreReplayedOnce() throws {
    let requests = DeviceNodeRequests()
    XCTAssertFalse(requests.hasHandler)
    let x = DeviceNodeRequests.Request.create(
      name: "x", dev: try DevT(major: 7, minor: 0), type: .blockDevice, mode: 0o600)
    let w = DeviceNodeRequests.Request.create(
      name: "w", dev: try DevT(major: 7, minor: 2), type: .blockDevice, mode: 0o600)
    try requests.submit(x)
    try requests.submit(
      .create(name: "y", dev: try DevT(major: 7, minor: 1), type: .blockDevice, mode: 0o600))
    try requests.submit(.delete(name: "y", dev: try DevT(major: 7, minor: 1), type: .blockDevice))
    try requests.submit(w)
    let seen = Mutex<[DeviceNodeRequests.Request]>([])
    requests.install { request in seen.withLock { $0.append(request) } }
    XCTAssertEqual(seen.withLock { $0 }, [])
    requests.replayAfterInstall()
    XCTAssertEqual(seen.withLock { $0 }, [w, x])
    requests.replayAfterInstall()  // once only
    XCTAssertEqual(seen.withLock { $0 }.count, 2)
    let deleteX = DeviceNodeRequests.Request.delete(
      name: "x", dev: try DevT(major: 7, minor: 0), type: .blockDevice)
    try requests.submit(deleteX)
    XCTAssertEqual(seen.withLock { $0 }, [w, x, deleteX])
  }

  /// A disk added before /dev is mounted (ext2's image, added before /dev
  /// goes over it) gets its node when devtmpfs is mounted.
  func testDiskAddedBeforeDevtmpfsGetsItsNodeAtMount() throws {
    let h = try ProcHarness(options: try MountOptions(parsing: "bare"))
    let ram = try BlockDeviceRegistry.of(h.vfs).addRamDisk(sizeInBytes: 1 << 16)
    XCTAssertThrowsError(try h.inode("dev/ram0"))
    try h.vfs.mountDevAndProc()
    let node = try stat(h, "dev/ram0")
    XCTAssertEqual(node.mode & FileType.mask, FileType.blockDevice.rawValue)
    XCTAssertEqual(node.rdev, ram.dev)
  }

  // MARK: - cache_size=

  func testParseCacheSize() throws {
    let good: [(String, Int)] = [
      ("65536", 65536), ("64k", 65536), ("64K", 65536), ("1m", 1 << 20), ("16M", 16 << 20),
      ("2g", 2 << 30), ("1G", 1 << 30), ("007", 7), ("1", 1),
    ]
    for (text, bytes) in good {
      XCTAssertEqual(try PageCache.parseCacheSize(text), bytes, text)
    }
    let bad = [
      "", "0", "0k", "k", "-1", "+5", " 5", "5 ", "5\n", "1t", "1%", "12x", "1kk", "1.5m", "0x10",
      "9223372036854775807k", "99999999999999999999", "8589934592g", "٣",
    ]
    for text in bad {
      assertProcErrno(.EINVAL, try PageCache.parseCacheSize(text), text)
    }
  }
}
