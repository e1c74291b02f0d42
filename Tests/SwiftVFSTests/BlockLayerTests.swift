// The block layer (Sources/SwiftVFS/Block): bios against a RAM disk and an
// image file, the checks of submit_bio, the counters of /sys/block/X/stat,
// the registry of block majors, the /proc text, and a seeded random run of
// bios against a plain [UInt8] model of the disk.

import XCTest

@testable import SwiftVFSBlock
@testable import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// Whether `a` and `b` hold the same bytes (memcmp: element-wise == is slow in debug builds).
private func sameBytes(_ a: [UInt8], _ b: ArraySlice<UInt8>) -> Bool {
  guard a.count == b.count else { return false }
  guard !a.isEmpty else { return true }
  return a.withUnsafeBytes { x in
    b.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, a.count) == 0 }
  }
}

final class BlockLayerTests: XCTestCase {
  private var scratch: ScratchDirectory!
  private var directory: String { scratch.path }

  override func setUpWithError() throws {
    scratch = try ScratchDirectory("swiftvfs-block")
  }

  override func tearDownWithError() throws {
    try scratch?.remove()
    scratch = nil
  }

  /// A zero-filled image file of `bytes` bytes in the temporary directory.
  private func makeImage(_ name: String = "disk.img", bytes: Int) throws -> String {
    try scratch.makeImage(name, bytes: bytes)
  }

  /// The bytes `count` bytes at `offset` of the file, read past the block layer.
  private func fileBytes(_ path: String, at offset: Int, count: Int) throws -> [UInt8] {
    let data = try XCTUnwrap(FileManager.default.contents(atPath: path))
    return Array(data[offset..<offset + count])
  }

  private func pattern(_ seed: UInt8, count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
  }

  private func read(_ device: BlockDevice, sector: UInt64, count: Int) throws -> [UInt8] {
    var out = [UInt8](repeating: 0xAA, count: count)
    let n = try out.withUnsafeMutableBytes { try device.read(sector: sector, into: $0) }
    XCTAssertEqual(n, count)
    return out
  }

  private func write(_ device: BlockDevice, sector: UInt64, _ bytes: [UInt8]) throws {
    let n = try bytes.withUnsafeBytes { try device.write(sector: sector, from: $0) }
    XCTAssertEqual(n, bytes.count)
  }

  /// The checks every backend must pass, on a 512-byte-sector device of at
  /// least 64 sectors whose medium is all zeros: round trips, holes,
  /// EIO/EINVAL/EPERM, FLUSH, and exact counters.
  private func exercise(_ device: BlockDevice, file: StaticString = #filePath, line: UInt = #line)
    throws
  {
    let last = device.sizeInSectors - 1
    XCTAssertEqual(device.stats, BlockDeviceStats(), file: file, line: line)

    // A hole reads as zeros (and a READ of 8 sectors counts 8).
    XCTAssertEqual(try read(device, sector: 16, count: 4096), [UInt8](repeating: 0, count: 4096))

    // Write then read back at several sectors, the last one included.
    let writes: [(UInt64, [UInt8])] = [
      (0, pattern(1, count: 512)), (1, pattern(2, count: 1024)), (9, pattern(3, count: 4096)),
      (last - 1, pattern(4, count: 1024)),
    ]
    for (sector, bytes) in writes { try write(device, sector: sector, bytes) }
    for (sector, bytes) in writes {
      XCTAssertEqual(
        try read(device, sector: sector, count: bytes.count), bytes, file: file, line: line)
    }
    // Sector 3 was never written: its neighbours are, it stays zero.
    XCTAssertEqual(try read(device, sector: 3, count: 512), [UInt8](repeating: 0, count: 512))
    // One bio across several writes sees each of them.
    XCTAssertEqual(
      try read(device, sector: 0, count: 1536), pattern(1, count: 512) + pattern(2, count: 1024))

    // Out of range: EIO, nothing moved (bio_check_eod).
    var scratch = [UInt8](repeating: 0, count: 1024)
    scratch.withUnsafeMutableBytes { buffer in
      let end = device.sizeInSectors
      XCTAssertEqual(errnoOf { try device.read(sector: end, into: buffer) }, .EIO)
      XCTAssertEqual(errnoOf { try device.read(sector: last, into: buffer) }, .EIO)
      XCTAssertEqual(errnoOf { try device.read(sector: .max, into: buffer) }, .EIO)
      XCTAssertEqual(
        errnoOf { try device.write(sector: last, from: UnsafeRawBufferPointer(buffer)) }, .EIO)
      // Misaligned to the logical block (512 here): EINVAL.
      let odd = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<100])
      XCTAssertEqual(errnoOf { try device.read(sector: 0, into: odd) }, .EINVAL)
      let oddWrite = UnsafeRawBufferPointer(rebasing: buffer[0..<513])
      XCTAssertEqual(errnoOf { try device.write(sector: 0, from: oddWrite) }, .EINVAL)
      // No data, or a FLUSH that carries some: EINVAL.
      let empty = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<0])
      XCTAssertEqual(errnoOf { try device.read(sector: 0, into: empty) }, .EINVAL)
      XCTAssertEqual(
        errnoOf { try device.submitBio(Bio(operation: .flush, sector: 0, buffer: buffer)) },
        .EINVAL)
    }
    XCTAssertEqual(try read(device, sector: last - 1, count: 1024), pattern(4, count: 1024))

    // FLUSH succeeds and is counted.
    try device.flush()
    try device.flush()

    // Read-only: a WRITE is EPERM (blkdev_write_iter()), the medium is
    // untouched; READ and FLUSH still work.
    device.readOnly = true
    XCTAssertEqual(
      errnoOf { try self.write(device, sector: 0, self.pattern(9, count: 512)) }, .EPERM)
    XCTAssertEqual(try read(device, sector: 0, count: 512), pattern(1, count: 512))
    try device.flush()
    device.readOnly = false

    // Reads: the hole (8 sectors), 4 read-backs (1+2+8+2), sector 3 (1),
    // the 3-sector read, sector last-1 (2), sector 0 while read-only (1).
    var expected = BlockDeviceStats()
    expected.readsCompleted = 1 + 4 + 1 + 1 + 1 + 1
    expected.sectorsRead = 8 + 13 + 1 + 3 + 2 + 1
    expected.writesCompleted = 4
    expected.sectorsWritten = 13
    expected.flushesCompleted = 3
    XCTAssertEqual(device.stats, expected, file: file, line: line)
    XCTAssertEqual(
      device.stats.statLine,
      "       9        0       28        0        4        0       13        0        0"
        + "        0        0        0        0        0        0        3        0\n",
      file: file, line: line)
  }

  // MARK: - RAM disk (brd)

  func testRamDiskRoundTripsHolesErrorsAndCounters() throws {
    let ram = RamDisk(sizeInBytes: 64 * 1024)
    let device = try BlockDevice(name: "ram0", dev: DevT(major: 1, minor: 0), driver: ram)
    XCTAssertEqual(device.sizeInSectors, 128)
    XCTAssertEqual(device.sizeInBytes, 65536)
    XCTAssertEqual(ram.allocatedPages, 0)
    try exercise(device)
    // Pages exist only where something was written: sectors 0-2 and 9-16
    // lie in pages 0-2, sectors 126-127 in page 15.
    XCTAssertEqual(ram.allocatedPages, 4)
  }

  func testRamDiskReadsAllocateNothing() throws {
    let ram = RamDisk(sizeInBytes: 1 << 20)
    let device = try BlockDevice(name: "ram0", dev: DevT(major: 1, minor: 0), driver: ram)
    for sector in stride(from: UInt64(0), to: device.sizeInSectors, by: 8) {
      XCTAssertEqual(
        try read(device, sector: sector, count: 4096), [UInt8](repeating: 0, count: 4096))
    }
    XCTAssertEqual(ram.allocatedPages, 0)
  }

  func testRamDiskSizeIsWholeSectorsAndLogicalBlocks() throws {
    XCTAssertEqual(RamDisk(sizeInBytes: 1000).sizeInBytes, 512)
    // A 4 KiB logical block: the capacity is whole blocks, starts must be aligned.
    let device = try BlockDevice(
      name: "ram1", dev: DevT(major: 1, minor: 1), driver: RamDisk(sizeInBytes: 10_000),
      logicalBlockSize: 4096)
    XCTAssertEqual(device.sizeInSectors, 16)
    var buffer = [UInt8](repeating: 7, count: 4096)
    buffer.withUnsafeMutableBytes { b in
      XCTAssertEqual(errnoOf { try device.read(sector: 1, into: b) }, .EINVAL)
      XCTAssertEqual(errnoOf { try device.read(sector: 4, into: b) }, .EINVAL)
      let half = UnsafeMutableRawBufferPointer(rebasing: b[0..<512])
      XCTAssertEqual(errnoOf { try device.read(sector: 0, into: half) }, .EINVAL)
      XCTAssertEqual(errnoOf { try device.read(sector: 16, into: b) }, .EIO)
      XCTAssertNil(errnoOf { try device.read(sector: 8, into: b) })
    }
    XCTAssertEqual(buffer, [UInt8](repeating: 0, count: 4096))
    for bad in [0, 256, 511, 1000, 131_072] {
      XCTAssertEqual(
        errnoOf {
          _ = try BlockDevice(
            name: "x", dev: .zero, driver: RamDisk(sizeInBytes: 4096), logicalBlockSize: bad)
        }, .EINVAL, "logical block \(bad)")
    }
    XCTAssertEqual(
      errnoOf {
        _ = try BlockDevice(name: "a b", dev: .zero, driver: RamDisk(sizeInBytes: 512))
      },
      .EINVAL)
  }

  // MARK: - Image file (loop)

  func testImageFileRoundTripsHolesErrorsAndCounters() throws {
    let path = try makeImage(bytes: 64 * 1024)
    let image = try ImageFile(path: path)
    XCTAssertEqual(image.sizeInBytes, 65536)
    let device = try BlockDevice(name: "loop0", dev: DevT(major: 7, minor: 0), driver: image)
    try exercise(device)
    // What the bios wrote is in the file, at sector × 512.
    XCTAssertEqual(try fileBytes(path, at: 9 * 512, count: 4096), pattern(3, count: 4096))
    XCTAssertEqual(try fileBytes(path, at: 126 * 512, count: 1024), pattern(4, count: 1024))
    XCTAssertEqual(try fileBytes(path, at: 3 * 512, count: 512), [UInt8](repeating: 0, count: 512))
  }

  func testImageFileThatIsNotASectorMultipleEndsAtItsLastWholeSector() throws {
    let path = try makeImage(bytes: 4096 + 100)
    let device = try BlockDevice(
      name: "loop0", dev: DevT(major: 7, minor: 0), driver: ImageFile(path: path))
    XCTAssertEqual(device.sizeInSectors, 8)
    XCTAssertEqual(errnoOf { _ = try self.read(device, sector: 8, count: 512) }, .EIO)
  }

  func testImageFileOpenErrors() throws {
    XCTAssertEqual(errnoOf { _ = try ImageFile(path: self.directory + "/missing.img") }, .ENOENT)
    XCTAssertEqual(errnoOf { _ = try ImageFile(path: self.directory) }, .EISDIR)
    XCTAssertEqual(errnoOf { _ = try ImageFile(path: self.directory, readOnly: true) }, .EISDIR)
    XCTAssertEqual(errnoOf { _ = try ImageFile(path: "/dev/null") }, .EINVAL)  // a char device
    XCTAssertEqual(errnoOf { _ = try ImageFile(path: "") }, .ENOENT)
  }

  func testReadOnlyImageMakesAReadOnlyDevice() throws {
    let path = try makeImage(bytes: 8192)
    let setup = try BlockDevice(
      name: "loop0", dev: DevT(major: 7, minor: 0), driver: ImageFile(path: path))
    try write(setup, sector: 2, pattern(5, count: 512))
    let device = try BlockDevice(
      name: "loop1", dev: DevT(major: 7, minor: 1), driver: ImageFile(path: path, readOnly: true))
    XCTAssertTrue(device.readOnly)
    XCTAssertEqual(
      errnoOf { try self.write(device, sector: 0, self.pattern(6, count: 512)) }, .EPERM)
    XCTAssertEqual(try read(device, sector: 2, count: 512), pattern(5, count: 512))
    XCTAssertEqual(try fileBytes(path, at: 0, count: 512), [UInt8](repeating: 0, count: 512))
    try device.flush()
    XCTAssertEqual(device.stats.writesCompleted, 0)
    XCTAssertEqual(device.stats.flushesCompleted, 1)
  }

  func testImageFileWithDirectIOBouncesUnalignedMemory() throws {
    let path = try makeImage(bytes: 64 * 1024)
    guard let image = try? ImageFile(path: path, directIO: true) else {
      throw XCTSkip("the file system of \(directory) refuses O_DIRECT")
    }
    let device = try BlockDevice(
      name: "loop0", dev: DevT(major: 7, minor: 0), driver: image, logicalBlockSize: 4096)
    // Memory one byte past a page boundary: O_DIRECT would refuse it, the bounce buffer takes it.
    let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192 + 1, alignment: 4096)
    defer { raw.deallocate() }
    let unaligned = UnsafeMutableRawBufferPointer(rebasing: raw[1..<8193])
    let bytes = pattern(7, count: 8192)
    unaligned.copyBytes(from: bytes)
    let refused = errnoOf {
      try device.write(sector: 8, from: UnsafeRawBufferPointer(unaligned))
    }
    if refused == .EINVAL || refused == .EIO {
      throw XCTSkip("the file system of \(directory) refuses O_DIRECT transfers of 4 KiB")
    }
    XCTAssertNil(refused)
    memset(unaligned.baseAddress!, 0, 8192)
    XCTAssertNil(errnoOf { try device.read(sector: 8, into: unaligned) })
    XCTAssertEqual(Array(unaligned), bytes)
    // Aligned memory goes straight through.
    let aligned = UnsafeMutableRawBufferPointer(rebasing: raw[0..<4096])
    XCTAssertNil(errnoOf { try device.read(sector: 16, into: aligned) })
    XCTAssertEqual(Array(aligned), Array(bytes[4096..<8192]))
    try device.flush()
    XCTAssertEqual(try fileBytes(path, at: 4096, count: 8192), bytes)
    // losetup's way: a direct-I/O image gets 4 KiB logical blocks by default.
    let disks = BlockDeviceRegistry()
    XCTAssertEqual(try disks.addImageFile(path: path, directIO: true).logicalBlockSize, 4096)
    XCTAssertEqual(try disks.addImageFile(path: path).logicalBlockSize, 512)
  }

  // MARK: - Registry (register_blkdev)

  func testRegistryUsesLinuxMajorsAndDynamicOnesFromTheTop() throws {
    let disks = BlockDeviceRegistry()
    let ram0 = try disks.addRamDisk(sizeInBytes: 1 << 20)
    let ram1 = try disks.addRamDisk(sizeInBytes: 1 << 20)
    let loop0 = try disks.addImageFile(path: makeImage(bytes: 2 << 20))
    XCTAssertEqual([ram0.name, ram1.name, loop0.name], ["ram0", "ram1", "loop0"])
    XCTAssertEqual([ram0.dev, ram1.dev, loop0.dev].map(\.description), ["1:0", "1:1", "7:0"])
    XCTAssertEqual(
      disks.majors, [.init(major: 1, name: "ramdisk"), .init(major: 7, name: "loop")])

    // Dynamic majors: 254, then down; a fixed one in between is skipped.
    XCTAssertEqual(try disks.registerBlkdev(name: "first"), 254)
    XCTAssertEqual(try disks.registerBlkdev(name: "second"), 253)
    XCTAssertEqual(try disks.registerBlkdev(major: 252, name: "fixed"), 252)
    XCTAssertEqual(try disks.registerBlkdev(name: "third"), 251)
    // Taken: EBUSY; past BLKDEV_MAJOR_MAX or a bad name: EINVAL.
    XCTAssertEqual(errnoOf { try disks.registerBlkdev(major: 7, name: "mine") }, .EBUSY)
    XCTAssertEqual(errnoOf { try disks.registerBlkdev(major: 254, name: "mine") }, .EBUSY)
    XCTAssertEqual(errnoOf { try disks.registerBlkdev(major: 512, name: "mine") }, .EINVAL)
    XCTAssertEqual(try disks.registerBlkdev(major: 511, name: "high"), 511)
    XCTAssertEqual(errnoOf { try disks.registerBlkdev(name: "") }, .EINVAL)
    XCTAssertEqual(errnoOf { try disks.registerBlkdev(name: "two words") }, .EINVAL)

    // Unregistering: the wrong name is EINVAL, a major with disks EBUSY; a
    // freed dynamic major is handed out again.
    XCTAssertEqual(errnoOf { try disks.unregisterBlkdev(major: 253, name: "first") }, .EINVAL)
    XCTAssertEqual(errnoOf { try disks.unregisterBlkdev(major: 1, name: "ramdisk") }, .EBUSY)
    try disks.unregisterBlkdev(major: 253, name: "second")
    XCTAssertEqual(try disks.registerBlkdev(name: "again"), 253)

    // Disks: an unregistered major is EINVAL, a taken number EBUSY, a taken name EEXIST.
    let stray = try BlockDevice(
      name: "stray", dev: DevT(major: 100, minor: 0), driver: RamDisk(sizeInBytes: 512))
    XCTAssertEqual(errnoOf { try disks.addDisk(stray) }, .EINVAL)
    let twin = try BlockDevice(name: "twin", dev: ram1.dev, driver: RamDisk(sizeInBytes: 512))
    XCTAssertEqual(errnoOf { try disks.addDisk(twin) }, .EBUSY)
    let sameName = try BlockDevice(
      name: "ram0", dev: DevT(major: 254, minor: 0), driver: RamDisk(sizeInBytes: 512))
    XCTAssertEqual(errnoOf { try disks.addDisk(sameName) }, .EEXIST)
    let mine = try BlockDevice(
      name: "mydisk", dev: DevT(major: 254, minor: 3), driver: RamDisk(sizeInBytes: 512))
    try disks.addDisk(mine)
    XCTAssertTrue(disks.disk(mine.dev) === mine)
    XCTAssertTrue(disks.disk(named: "loop0") === loop0)
    XCTAssertEqual(disks.disks.map(\.name), ["ram0", "ram1", "loop0", "mydisk"])

    // Deleting ram0 frees minor 0 for the next RAM disk; deleting twice is ENXIO.
    XCTAssertTrue(try disks.deleteDisk(ram0.dev) === ram0)
    XCTAssertEqual(errnoOf { try disks.deleteDisk(ram0.dev) }, .ENXIO)
    XCTAssertEqual(try disks.addRamDisk(sizeInBytes: 4096).dev.description, "1:0")
    XCTAssertNil(disks.disk(named: "nothing"))
  }

  func testDynamicMajorsRunOutWithEBUSY() throws {
    let disks = BlockDeviceRegistry()
    try disks.registerBlkdev(major: 1, name: "ramdisk")
    try disks.registerBlkdev(major: 7, name: "loop")
    var got: [UInt32] = []
    while let major = try? disks.registerBlkdev(name: "d\(got.count)") { got.append(major) }
    XCTAssertEqual(got.count, 252)
    XCTAssertEqual(got.first, 254)
    XCTAssertEqual(got.last, 2)
    XCTAssertFalse(got.contains(7))
    XCTAssertEqual(errnoOf { try disks.registerBlkdev(name: "onemore") }, .EBUSY)
    // A fixed major above the dynamic range still works.
    XCTAssertEqual(try disks.registerBlkdev(major: 300, name: "big"), 300)
  }

  func testAFixedMajorHeldByAnotherDriverStopsTheBuiltIns() throws {
    let disks = BlockDeviceRegistry()
    try disks.registerBlkdev(major: 7, name: "notloop")
    XCTAssertEqual(errnoOf { try disks.addImageFile(path: self.makeImage(bytes: 4096)) }, .EBUSY)
    XCTAssertEqual(errnoOf { try disks.addImageFile(path: self.directory + "/none") }, .ENOENT)
    XCTAssertTrue(disks.disks.isEmpty)
  }

  // MARK: - /proc text

  func testProcPartitionsAndBlockDevicesText() throws {
    let disks = BlockDeviceRegistry()
    XCTAssertEqual(disks.procPartitions(), "major minor  #blocks  name\n\n")
    XCTAssertEqual(disks.procDevicesBlockSection(), "Block devices:\n")

    try disks.addRamDisk(sizeInBytes: 1 << 20)
    try disks.addRamDisk(sizeInBytes: 0)  // size 0: not in /proc/partitions
    try disks.addImageFile(path: makeImage(bytes: 3 << 20 + 1536))
    let major = try disks.registerBlkdev(name: "swiftdisk")
    try disks.addDisk(
      BlockDevice(
        name: "sd0", dev: DevT(major: major, minor: 1_048_575),
        driver: RamDisk(sizeInBytes: 10 << 30)))
    XCTAssertEqual(
      disks.procPartitions(),
      """
      major minor  #blocks  name

         1        0       1024 ram0
         7        0       3073 loop0
       254  1048575   10485760 sd0

      """)
    XCTAssertEqual(
      disks.procDevicesBlockSection(),
      """
      Block devices:
        1 ramdisk
        7 loop
      254 swiftdisk

      """)
  }

  func testSysBlockStatLine() throws {
    let disks = BlockDeviceRegistry()
    let ram = try disks.addRamDisk(sizeInBytes: 1 << 20)
    XCTAssertEqual(
      disks.sysBlockStat("ram0"),
      "       0        0        0        0        0        0        0        0        0"
        + "        0        0        0        0        0        0        0        0\n")
    try write(ram, sector: 0, pattern(1, count: 8192))
    _ = try read(ram, sector: 0, count: 512)
    _ = try read(ram, sector: 100, count: 1024)
    try ram.flush()
    // A refused bio counts nothing.
    XCTAssertEqual(errnoOf { _ = try self.read(ram, sector: 2048, count: 512) }, .EIO)
    XCTAssertEqual(
      disks.sysBlockStat("ram0"),
      "       2        0        3        0        1        0       16        0        0"
        + "        0        0        0        0        0        0        1        0\n")
    XCTAssertNil(disks.sysBlockStat("ram9"))
  }

  // MARK: - Random bios against a model

  /// Many random bios (READ, WRITE, FLUSH; in range or not; aligned or not;
  /// read-only at times) against a [UInt8] model: every result, every errno,
  /// every byte read, and the counters at the end must match.
  private func randomBios(
    _ device: BlockDevice, seed: UInt64, count: Int, file: StaticString = #filePath,
    line: UInt = #line
  ) throws {
    var rng = SeededGenerator(state: seed)
    var model = [UInt8](repeating: 0, count: Int(device.sizeInBytes))
    var expected = BlockDeviceStats()
    var refusals: [Errno: Int] = [:]  // how often each check fired
    let block = device.logicalBlockSize
    let sectorsPerBlock = UInt64(block / 512)
    for step in 0..<count {
      if Int.random(in: 0..<50, using: &rng) == 0 { device.readOnly.toggle() }
      let roll = Int.random(in: 0..<100, using: &rng)
      if roll < 5 {
        try device.flush()
        expected.flushesCompleted += 1
        continue
      }
      let isWrite = roll < 55
      // Mostly aligned and in range; sometimes past the end or misaligned.
      var sector = UInt64.random(in: 0..<(device.sizeInSectors + 16), using: &rng)
      if Int.random(in: 0..<4, using: &rng) != 0 { sector -= sector % sectorsPerBlock }
      var length = block * Int.random(in: 1...8, using: &rng)
      if Int.random(in: 0..<10, using: &rng) == 0 {
        length += Int.random(in: 1..<block, using: &rng)
      }
      let want: Errno?
      if isWrite && device.readOnly {
        want = .EPERM
      } else if length % block != 0 || sector % sectorsPerBlock != 0 {
        want = .EINVAL
      } else if sector + UInt64(length / 512) > device.sizeInSectors {
        want = .EIO
      } else {
        want = nil
      }
      let start = Int(sector) * 512
      if isWrite {
        // A random fill byte, and in each sector a stamp of the step and the
        // sector's place: cheap to make, and a sector written to the wrong
        // place or from the wrong bio shows.
        var bytes = [UInt8](repeating: UInt8.random(in: 0...255, using: &rng), count: length)
        for s in stride(from: 0, to: length - 7, by: 512) {
          let stamp = UInt64(step) << 32 | UInt64(s / 512)
          withUnsafeBytes(of: stamp.littleEndian) { bytes.replaceSubrange(s..<s + 8, with: $0) }
        }
        let got = errnoOf {
          try bytes.withUnsafeBytes { _ = try device.write(sector: sector, from: $0) }
        }
        XCTAssertEqual(got, want, "step \(step): WRITE \(sector)+\(length)", file: file, line: line)
        if let want { refusals[want, default: 0] += 1 }
        if want == nil {
          model.replaceSubrange(start..<start + length, with: bytes)
          expected.writesCompleted += 1
          expected.sectorsWritten += UInt64(length / 512)
        }
      } else {
        var bytes = [UInt8](repeating: 0xEE, count: length)
        let got = errnoOf {
          try bytes.withUnsafeMutableBytes { _ = try device.read(sector: sector, into: $0) }
        }
        XCTAssertEqual(got, want, "step \(step): READ \(sector)+\(length)", file: file, line: line)
        if let want { refusals[want, default: 0] += 1 }
        if want == nil {
          XCTAssertTrue(
            sameBytes(bytes, model[start..<start + length]),
            "step \(step): READ \(sector)+\(length) data",
            file: file, line: line)
          expected.readsCompleted += 1
          expected.sectorsRead += UInt64(length / 512)
        }
      }
    }
    device.readOnly = false
    XCTAssertEqual(device.stats, expected, file: file, line: line)
    // The run reached every path: transfers that worked, and each refusal.
    XCTAssertGreaterThan(expected.readsCompleted, UInt64(count / 5), file: file, line: line)
    XCTAssertGreaterThan(expected.writesCompleted, UInt64(count / 10), file: file, line: line)
    for errno in [Errno.EIO, .EINVAL, .EPERM] {
      XCTAssertGreaterThan(refusals[errno, default: 0], 10, "\(errno)", file: file, line: line)
    }
    // The whole medium equals the model at the end.
    var all = [UInt8](repeating: 0, count: model.count)
    try all.withUnsafeMutableBytes { _ = try device.read(sector: 0, into: $0) }
    XCTAssertTrue(
      sameBytes(all, model[...]), "the medium differs from the model", file: file, line: line)
  }

  func testRandomBiosOnRamDiskMatchTheModel() throws {
    let device = try BlockDevice(
      name: "ram0", dev: DevT(major: 1, minor: 0), driver: RamDisk(sizeInBytes: 256 * 1024))
    try randomBios(device, seed: 12, count: 3000)
  }

  func testRandomBiosOnRamDiskWith4KBlocksMatchTheModel() throws {
    let device = try BlockDevice(
      name: "ram1", dev: DevT(major: 1, minor: 1), driver: RamDisk(sizeInBytes: 256 * 1024),
      logicalBlockSize: 4096)
    try randomBios(device, seed: 4096, count: 2000)
  }

  func testRandomBiosOnImageFileMatchTheModel() throws {
    let path = try makeImage(bytes: 256 * 1024)
    let device = try BlockDevice(
      name: "loop0", dev: DevT(major: 7, minor: 0), driver: ImageFile(path: path))
    try randomBios(device, seed: 7, count: 3000)
    // And the file itself holds what the device holds.
    let all = try read(device, sector: 0, count: 256 * 1024)
    XCTAssertTrue(sameBytes(try fileBytes(path, at: 0, count: 256 * 1024), all[...]))
  }
}
