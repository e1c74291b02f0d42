import Foundation
import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The block layer seen through a real mount (in process: vfsmount has no
/// block device yet): a disk of `BlockDeviceRegistry.of(vfs)` is a block node
/// that stat and `ls -l` show as `b 1, 0`, /proc/partitions and /proc/devices
/// list it, and /proc/meminfo's Cached line follows `PageCache.of(vfs)`
/// through `echo 1 > drop_caches`.
final class BlockProcTests: XCTestCase {
  /// Page `i` of the file is block `i` of the device, in 4 KiB blocks.
  private struct IdentityFileOps: AddressSpaceOperations {
    let device: BlockDevice

    func readFolio(
      _ mapping: AddressSpace, index: UInt64, into page: UnsafeMutableRawBufferPointer
    ) throws(Errno) {
      try mapping.cache.readBlocks([index], blockSize: PageCache.pageSize, from: device, into: page)
    }

    func writepage(_ mapping: AddressSpace, index: UInt64, from page: UnsafeRawBufferPointer)
      throws(Errno)
    {
      try mapping.cache.writeBlocks([index], blockSize: PageCache.pageSize, to: device, from: page)
    }
  }

  func testDisksAndThePageCacheShowInDevAndProc() throws {
    let vfs = try VFS.standard(options: MountOptions())
    let disks = BlockDeviceRegistry.of(vfs)
    let ram0 = try disks.addRamDisk(sizeInBytes: 1 << 20)
    try disks.addRamDisk(sizeInBytes: 2 << 20)
    let mount = try InProcessMount(vfs: vfs, name: "blockproc")
    defer { XCTAssertNil(mount.stop()) }

    var st = stat()
    XCTAssertEqual(result(lstat(mount.path + "/dev/ram0", &st)), "OK")
    XCTAssertEqual(typeName(st.st_mode), "blk")
    XCTAssertEqual(st.st_mode & 0o7777, 0o600)
    XCTAssertEqual("\(devMajor(st.st_rdev)):\(devMinor(st.st_rdev))", "1:0")
    let ls = sh("ls -l \(shq(mount.path + "/dev")) | grep ' ram' | awk '{print $1, $5, $6, $NF}'")
    XCTAssertEqual(ls.stdout, "brw------- 1, 0 ram0\nbrw------- 1, 1 ram1\n", "\(ls)")
    XCTAssertEqual(
      runCommand("cat", [mount.path + "/proc/partitions"], timeout: 30).stdout,
      "major minor  #blocks  name\n\n   1        0       1024 ram0\n   1        1       2048 ram1\n"
    )
    let devices = runCommand("cat", [mount.path + "/proc/devices"], timeout: 30).stdout
    XCTAssertTrue(devices.hasSuffix("\n\nBlock devices:\n  1 ramdisk\n"), devices)

    // Two pages read through the VFS's page cache: Cached 8 kB; drop_caches
    // 1 (a write through the mount, as a person types it) empties it.
    let file = AddressSpace(
      cache: PageCache.of(vfs), ino: 3, operations: IdentityFileOps(device: ram0))
    var buffer = [UInt8](repeating: 0, count: 2 * PageCache.pageSize)
    try buffer.withUnsafeMutableBytes { b in try file.read(at: 0, into: b) }
    let cached = "grep '^Cached:' \(shq(mount.path + "/proc/meminfo"))"
    XCTAssertEqual(sh(cached).stdout, "Cached:                8 kB\n")
    let drop = sh("echo 1 > \(shq(mount.path + "/proc/sys/vm/drop_caches"))")
    XCTAssertEqual(drop.status, 0, "\(drop)")
    XCTAssertEqual(sh(cached).stdout, "Cached:                0 kB\n")
    XCTAssertEqual(file.cachedPageCount, 0)
  }
}
