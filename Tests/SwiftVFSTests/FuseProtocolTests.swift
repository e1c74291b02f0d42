import SwiftVFSCore
import XCTest

@testable import SwiftVFSFuse

/// The /dev/fuse wire protocol without a kernel: every structure at its
/// linux/fuse.h size and offsets, each decoder check, the reply sizes per
/// protocol minor, and a seeded fuzzer of random and mutated requests.
///
/// Under AddressSanitizer (a separate build in .build-asan, a few minutes):
/// `FILTER=SwiftVFSTests.FuseProtocolTests scripts/sanitize address`.
final class FuseProtocolTests: XCTestCase {

  // MARK: - Helpers

  /// A request as the kernel lays it out: header, arguments, extensions.
  func message(
    _ op: FuseKernelOpcode, unique: UInt64 = 7, nodeid: UInt64 = 1, _ args: [UInt8] = [],
    extensions: [UInt8] = []
  ) -> [UInt8] {
    message(rawOpcode: op.rawValue, unique: unique, nodeid: nodeid, args, extensions: extensions)
  }

  func message(
    rawOpcode: UInt32, unique: UInt64 = 7, nodeid: UInt64 = 1, _ args: [UInt8] = [],
    extensions: [UInt8] = []
  ) -> [UInt8] {
    let len = FuseInHeader.wireSize + args.count + extensions.count
    let header = FuseInHeader(
      len: UInt32(len), opcode: rawOpcode, unique: unique, nodeid: nodeid, uid: 1000, gid: 100,
      pid: 42, totalExtlen: UInt16(extensions.count / 8))
    return header.wireBytes + args + extensions
  }

  func name(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

  func decode(
    _ bytes: [UInt8], _ decoder: FuseRequestDecoder = FuseRequestDecoder(),
    file: StaticString = #filePath, line: UInt = #line
  ) -> FuseRequest? {
    do { return try decoder.decode(bytes) } catch {
      XCTFail("decode failed: \(error.error)", file: file, line: line)
      return nil
    }
  }

  func failure(_ bytes: [UInt8], _ decoder: FuseRequestDecoder = FuseRequestDecoder())
    -> FuseDecodeFailure?
  {
    do {
      _ = try decoder.decode(bytes)
      return nil
    } catch { return error }
  }

  /// Encodes `value`, checks its size and each (offset, width, value) field,
  /// and decodes it back to an equal value.
  func assertLayout<T: FuseWireStruct>(
    _ value: T, size: Int, _ fields: [(offset: Int, width: Int, value: UInt64)],
    file: StaticString = #filePath, line: UInt = #line
  ) {
    XCTAssertEqual(T.wireSize, size, "\(T.self).wireSize", file: file, line: line)
    let bytes = value.wireBytes
    XCTAssertEqual(
      bytes.count, size, "\(T.self) encodes \(bytes.count) bytes", file: file, line: line)
    let wire = FuseWireBytes(bytes)
    for f in fields {
      var read: UInt64 = 0
      for i in (0..<f.width).reversed() { read = read << 8 | UInt64(bytes[f.offset + i]) }
      XCTAssertEqual(read, f.value, "\(T.self) field at offset \(f.offset)", file: file, line: line)
    }
    XCTAssertEqual(T.decode(wire), value, "\(T.self) round trip", file: file, line: line)
    XCTAssertNil(
      T.decode(FuseWireBytes(Array(bytes.dropLast()))), "\(T.self) one byte short", file: file,
      line: line)
  }

  // MARK: - Layouts (sizes and offsets from include/uapi/linux/fuse.h)

  func testHeaderLayouts() {
    assertLayout(
      FuseInHeader(
        len: 0x1111_1111, opcode: 0x2222_2222, unique: 0x3333_3333_3333_3333,
        nodeid: 0x4444_4444_4444_4444,
        uid: 0x5555_5555, gid: 0x6666_6666, pid: 0x7777_7777, totalExtlen: 0x8888, padding: 0x9999),
      size: 40,
      [
        (0, 4, 0x1111_1111), (4, 4, 0x2222_2222), (8, 8, 0x3333_3333_3333_3333),
        (16, 8, 0x4444_4444_4444_4444),
        (24, 4, 0x5555_5555), (28, 4, 0x6666_6666), (32, 4, 0x7777_7777), (36, 2, 0x8888),
        (38, 2, 0x9999),
      ])
    assertLayout(
      FuseOutHeader(len: 16, error: -2, unique: 0xABCD), size: 16,
      [(0, 4, 16), (4, 4, 0xFFFF_FFFE), (8, 8, 0xABCD)])
  }

  func testInitLayouts() {
    let offered = FuseInitFlags([
      .asyncRead, .initExt, .handleKillprivV2, .overIOUring, .requestTimeout,
    ])
    assertLayout(
      FuseInitIn(major: 7, minor: 45, maxReadahead: 0x20000, flags: offered), size: 64,
      [
        (0, 4, 7), (4, 4, 45), (8, 4, 0x20000), (12, 4, UInt64(offered.flags)),
        (16, 4, UInt64(offered.flags2)),
      ])
    assertLayout(
      FuseInitOut(
        minor: 45, maxReadahead: 0x20000, flags: offered, maxBackground: 0x0102,
        congestionThreshold: 0x0304,
        maxWrite: 1 << 20, timeGran: 1, maxPages: 256, mapAlignment: 0x0506, maxStackDepth: 2,
        requestTimeout: 0x0708),
      size: 64,
      [
        (0, 4, 7), (4, 4, 45), (8, 4, 0x20000), (12, 4, UInt64(offered.flags)), (16, 2, 0x0102),
        (18, 2, 0x0304), (20, 4, 1 << 20), (24, 4, 1), (28, 2, 256), (30, 2, 0x0506),
        (32, 4, UInt64(offered.flags2)), (36, 4, 2), (40, 2, 0x0708),
      ])
    XCTAssertEqual(FuseInitOut.compatSize, 8)
    XCTAssertEqual(FuseInitOut.compat22Size, 24)
  }

  func testArgumentLayouts() {
    assertLayout(FuseGetattrIn(getattrFlags: 1, fh: 0xF0F0), size: 16, [(0, 4, 1), (8, 8, 0xF0F0)])
    assertLayout(
      FuseSetattrIn(
        valid: [.mode, .size, .killSuidgid], fh: 2, size: 3, lockOwner: 4, atime: 5, mtime: 6,
        ctime: 7,
        atimensec: 8, mtimensec: 9, ctimensec: 10, mode: 11, uid: 12, gid: 13),
      size: 88,
      [
        (0, 4, 0x809), (8, 8, 2), (16, 8, 3), (24, 8, 4), (32, 8, 5), (40, 8, 6), (48, 8, 7),
        (56, 4, 8),
        (60, 4, 9), (64, 4, 10), (68, 4, 11), (72, 4, 0), (76, 4, 12), (80, 4, 13), (84, 4, 0),
      ])
    assertLayout(FuseOpenIn(flags: 0o100002, openFlags: 1), size: 8, [(0, 4, 0o100002), (4, 4, 1)])
    assertLayout(
      FuseCreateIn(flags: 1, mode: 0o100644, umask: 0o22, openFlags: 1), size: 16,
      [(0, 4, 1), (4, 4, 0o100644), (8, 4, 0o22), (12, 4, 1)])
    assertLayout(
      FuseMknodIn(mode: 0o20644, rdev: 0x103, umask: 0o22), size: 16,
      [(0, 4, 0o20644), (4, 4, 0x103), (8, 4, 0o22)])
    assertLayout(FuseMkdirIn(mode: 0o755, umask: 0o22), size: 8, [(0, 4, 0o755), (4, 4, 0o22)])
    assertLayout(FuseRename2In(newdir: 9, flags: 2), size: 16, [(0, 8, 9), (8, 4, 2)])
    assertLayout(FuseLinkIn(oldnodeid: 77), size: 8, [(0, 8, 77)])
    let rw: [(offset: Int, width: Int, value: UInt64)] = [
      (0, 8, 1), (8, 8, 2), (16, 4, 3), (20, 4, 4), (24, 8, 5), (32, 4, 6),
    ]
    assertLayout(
      FuseReadIn(fh: 1, offset: 2, size: 3, readFlags: 4, lockOwner: 5, flags: 6), size: 40, rw)
    assertLayout(
      FuseWriteIn(fh: 1, offset: 2, size: 3, writeFlags: 4, lockOwner: 5, flags: 6), size: 40, rw)
    assertLayout(
      FuseReleaseIn(fh: 1, flags: 2, releaseFlags: 3, lockOwner: 4), size: 24,
      [(0, 8, 1), (8, 4, 2), (12, 4, 3), (16, 8, 4)])
    assertLayout(FuseFlushIn(fh: 1, lockOwner: 4), size: 24, [(0, 8, 1), (8, 8, 0), (16, 8, 4)])
    assertLayout(FuseFsyncIn(fh: 1, fsyncFlags: 1), size: 16, [(0, 8, 1), (8, 4, 1)])
    assertLayout(
      FuseSetxattrIn(size: 10, flags: 1, setxattrFlags: 1), size: 16,
      [(0, 4, 10), (4, 4, 1), (8, 4, 1)])
    assertLayout(FuseGetxattrIn(size: 10), size: 8, [(0, 4, 10), (4, 4, 0)])
    assertLayout(FuseAccessIn(mask: 4), size: 8, [(0, 4, 4)])
    assertLayout(FuseInterruptIn(unique: 99), size: 8, [(0, 8, 99)])
    assertLayout(FuseForgetIn(nlookup: 3), size: 8, [(0, 8, 3)])
    assertLayout(FuseForgetOne(nodeid: 5, nlookup: 6), size: 16, [(0, 8, 5), (8, 8, 6)])
    assertLayout(FuseBatchForgetIn(count: 2), size: 8, [(0, 4, 2)])
    assertLayout(
      FuseFallocateIn(fh: 1, offset: 2, length: 3, mode: 4), size: 32,
      [(0, 8, 1), (8, 8, 2), (16, 8, 3), (24, 4, 4)])
    assertLayout(
      FuseLseekIn(fh: 1, offset: 2, whence: 3), size: 24, [(0, 8, 1), (8, 8, 2), (16, 4, 3)])
    assertLayout(
      FuseIoctlIn(fh: 1, flags: 2, cmd: 3, arg: 4, inSize: 5, outSize: 6), size: 32,
      [(0, 8, 1), (8, 4, 2), (12, 4, 3), (16, 8, 4), (24, 4, 5), (28, 4, 6)])
    assertLayout(
      FusePollIn(fh: 1, kh: 2, flags: 3, events: 4), size: 24,
      [(0, 8, 1), (8, 8, 2), (16, 4, 3), (20, 4, 4)])
    assertLayout(
      FuseStatxIn(getattrFlags: 1, fh: 2, sxFlags: 3, sxMask: 4), size: 24,
      [(0, 4, 1), (8, 8, 2), (16, 4, 3), (20, 4, 4)])
  }

  func testReplyLayouts() {
    let attr = FuseAttr(
      ino: 1, size: 2, blocks: 3, atime: 4, mtime: 5, ctime: 6, atimensec: 7, mtimensec: 8,
      ctimensec: 9,
      mode: 10, nlink: 11, uid: 12, gid: 13, rdev: 14, blksize: 15, flags: 16)
    assertLayout(
      attr, size: 88,
      [
        (0, 8, 1), (8, 8, 2), (16, 8, 3), (24, 8, 4), (32, 8, 5), (40, 8, 6), (48, 4, 7),
        (52, 4, 8),
        (56, 4, 9), (60, 4, 10), (64, 4, 11), (68, 4, 12), (72, 4, 13), (76, 4, 14), (80, 4, 15),
        (84, 4, 16),
      ])
    assertLayout(
      FuseEntryOut(
        nodeid: 21, generation: 22, entryValid: 23, attrValid: 24, entryValidNsec: 25,
        attrValidNsec: 26,
        attr: attr),
      size: 128,
      [
        (0, 8, 21), (8, 8, 22), (16, 8, 23), (24, 8, 24), (32, 4, 25), (36, 4, 26), (40, 8, 1),
        (124, 4, 16),
      ])
    assertLayout(
      FuseAttrOut(attrValid: 31, attrValidNsec: 32, attr: attr), size: 104,
      [(0, 8, 31), (8, 4, 32), (12, 4, 0), (16, 8, 1), (100, 4, 16)])
    assertLayout(
      FuseOpenOut(fh: 41, openFlags: FuseOpenOut.directIO, backingID: -1), size: 16,
      [(0, 8, 41), (8, 4, 1), (12, 4, 0xFFFF_FFFF)])
    assertLayout(FuseWriteOut(size: 4096), size: 8, [(0, 4, 4096), (4, 4, 0)])
  }

  // MARK: - Opcodes and flags

  func testOpcodeTableIsDerivedAndUnchanged() {
    // The literal list /proc/vfs/requests had before it was derived from FuseKernelOpcode.
    let before: [(Int, String)] = [
      (1, "LOOKUP"), (2, "FORGET"), (3, "GETATTR"), (4, "SETATTR"), (5, "READLINK"),
      (6, "SYMLINK"), (8, "MKNOD"), (9, "MKDIR"), (10, "UNLINK"), (11, "RMDIR"), (12, "RENAME"),
      (13, "LINK"), (14, "OPEN"), (15, "READ"), (16, "WRITE"), (17, "STATFS"), (18, "RELEASE"),
      (20, "FSYNC"), (21, "SETXATTR"), (22, "GETXATTR"), (23, "LISTXATTR"), (24, "REMOVEXATTR"),
      (25, "FLUSH"), (26, "INIT"), (27, "OPENDIR"), (28, "READDIR"), (29, "RELEASEDIR"),
      (30, "FSYNCDIR"), (31, "GETLK"), (32, "SETLK"), (33, "SETLKW"), (34, "ACCESS"),
      (35, "CREATE"), (36, "INTERRUPT"), (37, "BMAP"), (38, "DESTROY"), (39, "IOCTL"),
      (40, "POLL"), (41, "NOTIFY_REPLY"), (42, "BATCH_FORGET"), (43, "FALLOCATE"),
      (44, "READDIRPLUS"), (45, "RENAME2"), (46, "LSEEK"), (47, "COPY_FILE_RANGE"),
      (48, "SETUPMAPPING"), (49, "REMOVEMAPPING"), (50, "SYNCFS"), (51, "TMPFILE"), (52, "STATX"),
    ]
    XCTAssertEqual(FuseOpcode.kernelTable.map(\.code), before.map(\.0))
    XCTAssertEqual(FuseOpcode.kernelTable.map(\.name), before.map(\.1))
    XCTAssertEqual(FuseKernelOpcode.copyFileRange64.name, "COPY_FILE_RANGE_64")
    XCTAssertEqual(FuseKernelOpcode.cuseInit.rawValue, 4096)
    // Every opcode the bridge names (flock aside: a lock flavour, not an opcode) is a kernel opcode.
    let kernelNames = Set(FuseKernelOpcode.allCases.map(\.name))
    for op in FuseOpcode.allCases where op != .flock {
      XCTAssertTrue(kernelNames.contains(op.name), op.name)
    }
  }

  func testInitFlagsByName() {
    XCTAssertEqual(FuseInitFlags.named.count, 43)  // bits 0...42
    for (bit, entry) in FuseInitFlags.named.enumerated() {
      XCTAssertEqual(entry.flag.rawValue, 1 << UInt64(bit), entry.name)
    }
    XCTAssertEqual(Set(FuseInitFlags.named.map(\.name)).count, 43)
    let agreed = FuseInitFlags([.asyncRead, .handleKillprivV2, .initExt, .allowIdmap, .overIOUring])
    XCTAssertEqual(
      agreed.description, "ASYNC_READ HANDLE_KILLPRIV_V2 INIT_EXT ALLOW_IDMAP OVER_IO_URING")
    XCTAssertEqual(agreed.flags, 1 | 1 << 28 | 1 << 30)
    XCTAssertEqual(agreed.flags2, 1 << 8 | 1 << 9)
    XCTAssertEqual(FuseInitFlags(flags: agreed.flags, flags2: agreed.flags2), agreed)
    XCTAssertEqual(FuseInitFlags(rawValue: 1 << 50 | 1).names, ["ASYNC_READ", "bit 50"])
    XCTAssertEqual(FuseInitFlags.requestTimeout.rawValue, 1 << 42)
    XCTAssertEqual(FuseInitFlags.passthrough.rawValue, 1 << 37)
  }

  func testInitInReadsFlags2OnlyWithInitExt() throws {
    var args = FuseInitIn(major: 7, minor: 45, maxReadahead: 4096, flags: [.initExt, .allowIdmap])
      .wireBytes
    guard case .fuseInit(let full) = decode(message(.fuseInit, args))?.body else {
      return XCTFail()
    }
    XCTAssertEqual(full.flags, [.initExt, .allowIdmap])
    args[15] &= ~0x40  // clear INIT_EXT (bit 30): flags2 is then garbage to ignore
    guard case .fuseInit(let noExt) = decode(message(.fuseInit, args))?.body else {
      return XCTFail()
    }
    XCTAssertEqual(noExt.flags, [])
    // A pre-7.36 kernel sends 16 bytes.
    let old = Array(
      FuseInitIn(major: 7, minor: 31, maxReadahead: 4096, flags: [.asyncRead]).wireBytes.prefix(16))
    guard case .fuseInit(let compat) = decode(message(.fuseInit, old))?.body else {
      return XCTFail()
    }
    XCTAssertEqual(compat, FuseInitIn(major: 7, minor: 31, maxReadahead: 4096, flags: [.asyncRead]))
    XCTAssertEqual(
      failure(message(.fuseInit, Array(old.prefix(15))))?.error,
      .shortArgument(.fuseInit, need: 16, have: 15))
  }

  // MARK: - Decoding valid requests

  func testDecodesNamedRequests() throws {
    let lookup = decode(message(.lookup, unique: 9, nodeid: 5, name("hello")))
    XCTAssertEqual(lookup?.body, .lookup(name: FuseName(Array("hello".utf8))))
    XCTAssertEqual(lookup?.header.nodeid, 5)
    XCTAssertEqual(lookup?.header.unique, 9)
    XCTAssertEqual(lookup?.opcode, .lookup)
    XCTAssertEqual(
      decode(message(.symlink, name("ln") + name("../a/b")))?.body,
      .symlink(name: FuseName(Array("ln".utf8)), target: Array("../a/b".utf8)))
    XCTAssertEqual(
      decode(message(.rename, FuseLinkIn(oldnodeid: 3).wireBytes + name("a") + name("b")))?.body,
      .rename(newdir: 3, oldName: FuseName([97]), newName: FuseName([98])))
    let r2 = FuseRename2In(newdir: 4, flags: 1)
    XCTAssertEqual(
      decode(message(.rename2, r2.wireBytes + name("a") + name("b")))?.body,
      .rename2(r2, oldName: FuseName([97]), newName: FuseName([98])))
    XCTAssertEqual(
      decode(message(.link, FuseLinkIn(oldnodeid: 8).wireBytes + name("l")))?.body,
      .link(FuseLinkIn(oldnodeid: 8), newName: FuseName([108])))
    let mk = FuseMkdirIn(mode: 0o755, umask: 0o22)
    XCTAssertEqual(
      decode(message(.mkdir, mk.wireBytes + name("d")))?.body, .mkdir(mk, name: FuseName([100])))
    let cr = FuseCreateIn(flags: 0o101, mode: 0o100644, umask: 0o22)
    XCTAssertEqual(
      decode(message(.create, cr.wireBytes + name("f")))?.body, .create(cr, name: FuseName([102])))
    XCTAssertEqual(decode(message(.tmpfile, cr.wireBytes))?.body, .tmpfile(cr))
    // Names may be any bytes but NUL and '/': UTF-8 or not, 255 at most.
    let long = [UInt8](repeating: 0xE9, count: 255)
    XCTAssertEqual(decode(message(.unlink, long + [0]))?.body, .unlink(name: FuseName(long)))
    XCTAssertEqual(
      decode(message(.getxattr, FuseGetxattrIn(size: 0).wireBytes + name("user.a/b")))?.body,
      .getxattr(FuseGetxattrIn(size: 0), name: FuseName(Array("user.a/b".utf8))))
  }

  func testMknodSizeFollowsMinor() {
    let mknod = FuseMknodIn(mode: 0o20644, rdev: 0x103, umask: 0o22)
    XCTAssertEqual(
      decode(message(.mknod, mknod.wireBytes + name("c")))?.body,
      .mknod(mknod, name: FuseName([99])))
    // Minor < 12: FUSE_COMPAT_MKNOD_IN_SIZE, no umask.
    let compat = Array(mknod.wireBytes.prefix(8)) + name("c")
    XCTAssertEqual(
      decode(message(.mknod, compat), FuseRequestDecoder(minor: 11))?.body,
      .mknod(FuseMknodIn(mode: 0o20644, rdev: 0x103, umask: 0), name: FuseName([99])))
  }

  func testDecodesPayloads() {
    let data: [UInt8] = Array(0..<100)
    let w = FuseWriteIn(fh: 3, offset: 4096, size: 100, writeFlags: FuseWriteIn.flagKillSuidgid)
    guard case .write(let wIn, let wData) = decode(message(.write, w.wireBytes + data))?.body else {
      return XCTFail()
    }
    XCTAssertEqual(wIn, w)
    XCTAssertEqual(wData.bytes, data)
    // SETXATTR: 16-byte in-arg with SETXATTR_EXT, 8 bytes without.
    let sx = FuseSetxattrIn(size: 3, flags: 1, setxattrFlags: FuseSetxattrIn.aclKillSgid)
    let ext = FuseRequestDecoder(setxattrExt: true)
    XCTAssertEqual(
      decode(message(.setxattr, sx.wireBytes + name("user.x") + [1, 2, 3]), ext)?.body,
      .setxattr(sx, name: FuseName(Array("user.x".utf8)), value: FuseWireBytes([1, 2, 3])))
    XCTAssertEqual(
      decode(message(.setxattr, Array(sx.wireBytes.prefix(8)) + name("user.x") + [1, 2, 3]))?.body,
      .setxattr(
        FuseSetxattrIn(size: 3, flags: 1), name: FuseName(Array("user.x".utf8)),
        value: FuseWireBytes([1, 2, 3])))
    // An empty value is legal.
    XCTAssertNotNil(
      decode(message(.setxattr, FuseSetxattrIn(size: 0).wireBytes + name("user.e")), ext))
    let io = FuseIoctlIn(fh: 1, flags: 0, cmd: 0x8004_0001, arg: 0, inSize: 4, outSize: 4)
    XCTAssertEqual(
      decode(message(.ioctl, io.wireBytes + [9, 9, 9, 9]))?.body,
      .ioctl(io, input: FuseWireBytes([9, 9, 9, 9])))
    let forgets = [FuseForgetOne(nodeid: 2, nlookup: 1), FuseForgetOne(nodeid: 3, nlookup: 7)]
    XCTAssertEqual(
      decode(
        message(.batchForget, FuseBatchForgetIn(count: 2).wireBytes + forgets.flatMap(\.wireBytes)))?
        .body,
      .batchForget(forgets))
    XCTAssertEqual(decode(message(.statfs))?.body, .statfs)
    XCTAssertEqual(decode(message(.destroy))?.body, .destroy)
    let sxIn = FuseStatxIn(getattrFlags: 0, fh: 0, sxFlags: 0, sxMask: 0xFFF)
    XCTAssertEqual(decode(message(.statx, sxIn.wireBytes))?.body, .statx(sxIn))
    XCTAssertEqual(
      decode(message(.getlk, [UInt8](repeating: 1, count: 48)))?.body,
      .unparsed(.getlk, FuseWireBytes([UInt8](repeating: 1, count: 48))))
  }

  func testExtensionsAreCutOffTheEnd() {
    let ext: [UInt8] = [8, 0, 0, 0, 1, 0, 0, 0] + [UInt8](repeating: 0xAA, count: 8)  // 16 bytes
    let req = decode(
      message(.mkdir, FuseMkdirIn(mode: 0o755).wireBytes + name("d"), extensions: ext))
    XCTAssertEqual(req?.body, .mkdir(FuseMkdirIn(mode: 0o755), name: FuseName([100])))
    XCTAssertEqual(req?.extensions.bytes, ext)
    XCTAssertEqual(req?.header.totalExtlen, 2)
  }

  // MARK: - Each decode error, and what the engine does about it

  func assertFailure(
    _ bytes: [UInt8], _ expected: FuseDecodeError, _ disposition: FuseDecodeDisposition,
    _ decoder: FuseRequestDecoder = FuseRequestDecoder(), file: StaticString = #filePath,
    line: UInt = #line
  ) {
    guard let f = failure(bytes, decoder) else { return XCTFail("decoded", file: file, line: line) }
    XCTAssertEqual(f.error, expected, file: file, line: line)
    XCTAssertEqual(f.disposition, disposition, file: file, line: line)
  }

  func testHeaderErrors() {
    assertFailure([], .shortHeader(have: 0), .drop)
    assertFailure([UInt8](repeating: 0xFF, count: 39), .shortHeader(have: 39), .drop)
    var long = message(.getattr, unique: 5, FuseGetattrIn(getattrFlags: 0, fh: 0).wireBytes)
    long.append(0)  // one byte more than len says
    assertFailure(long, .lengthMismatch(declared: 56, actual: 57), .reply(unique: 5, errno: .EIO))
    let short = Array(
      message(.getattr, unique: 5, FuseGetattrIn(getattrFlags: 0, fh: 0).wireBytes).dropLast())
    assertFailure(short, .lengthMismatch(declared: 56, actual: 55), .reply(unique: 5, errno: .EIO))
    var ext = message(.getattr, unique: 5, FuseGetattrIn(getattrFlags: 0, fh: 0).wireBytes)
    ext[36] = 3  // 24 bytes of extensions claimed, 16 bytes present after the header
    assertFailure(
      ext, .extensionsTooLong(extensionBytes: 24, payload: 16), .reply(unique: 5, errno: .EIO))
    assertFailure(
      message(rawOpcode: 7, unique: 6), .unknownOpcode(7), .reply(unique: 6, errno: .ENOSYS))
    assertFailure(
      message(rawOpcode: 999, unique: 6), .unknownOpcode(999), .reply(unique: 6, errno: .ENOSYS))
    // unique 0 would be read as a notification: never answered.
    assertFailure(message(rawOpcode: 999, unique: 0), .unknownOpcode(999), .drop)
  }

  func testArgumentErrors() {
    assertFailure(
      message(.read, unique: 3, [UInt8](repeating: 0, count: 39)),
      .shortArgument(.read, need: 40, have: 39),
      .reply(unique: 3, errno: .EIO))
    assertFailure(
      message(.setattr, unique: 3, [UInt8](repeating: 0, count: 87)),
      .shortArgument(.setattr, need: 88, have: 87),
      .reply(unique: 3, errno: .EIO))
    // SETXATTR with SETXATTR_EXT needs 16 bytes before the name.
    assertFailure(
      message(.setxattr, unique: 3, [3, 0, 0, 0, 0, 0, 0, 0] + name("u")),
      .shortArgument(.setxattr, need: 16, have: 10),
      .reply(unique: 3, errno: .EIO), FuseRequestDecoder(setxattrExt: true))
    let w = FuseWriteIn(fh: 1, offset: 0, size: 10)
    assertFailure(
      message(.write, unique: 3, w.wireBytes + [1, 2, 3]),
      .sizeMismatch(.write, declared: 10, have: 3),
      .reply(unique: 3, errno: .EIO))
    assertFailure(
      message(.write, unique: 3, w.wireBytes + [UInt8](repeating: 1, count: 11)),
      .sizeMismatch(.write, declared: 10, have: 11),
      .reply(unique: 3, errno: .EIO))
    assertFailure(
      message(
        .setxattr, unique: 3, FuseSetxattrIn(size: 4).wireBytes.prefix(8) + name("user.x") + [1]),
      .sizeMismatch(.setxattr, declared: 4, have: 1), .reply(unique: 3, errno: .EIO))
    assertFailure(
      message(
        .ioctl, unique: 3,
        FuseIoctlIn(fh: 1, flags: 0, cmd: 1, arg: 0, inSize: 8, outSize: 0).wireBytes),
      .sizeMismatch(.ioctl, declared: 8, have: 0), .reply(unique: 3, errno: .EIO))
    assertFailure(
      message(.lookup, unique: 3, name("a") + [0x62]), .trailingBytes(.lookup, count: 1),
      .reply(unique: 3, errno: .EIO))
  }

  func testNameErrors() {
    assertFailure(
      message(.lookup, unique: 4, Array("abc".utf8)), .unterminatedName(.lookup),
      .reply(unique: 4, errno: .EINVAL))
    assertFailure(
      message(.lookup, unique: 4), .unterminatedName(.lookup), .reply(unique: 4, errno: .EINVAL))
    assertFailure(
      message(.lookup, unique: 4, [0]), .emptyName(.lookup), .reply(unique: 4, errno: .EINVAL))
    assertFailure(
      message(.mkdir, unique: 4, FuseMkdirIn(mode: 0).wireBytes + name("a/b")),
      .slashInName(.mkdir), .reply(unique: 4, errno: .EINVAL))
    assertFailure(
      message(.unlink, unique: 4, [UInt8](repeating: 0x61, count: 256) + [0]),
      .nameTooLong(.unlink, length: 256),
      .reply(unique: 4, errno: .ENAMETOOLONG))
    // Two names: the second missing, or empty.
    assertFailure(
      message(.rename, unique: 4, FuseLinkIn(oldnodeid: 1).wireBytes + name("a")),
      .unterminatedName(.rename),
      .reply(unique: 4, errno: .EINVAL))
    assertFailure(
      message(.rename2, unique: 4, FuseRename2In(newdir: 1).wireBytes + name("a") + [0]),
      .emptyName(.rename2),
      .reply(unique: 4, errno: .EINVAL))
    assertFailure(
      message(.symlink, unique: 4, name("a/b") + name("t")), .slashInName(.symlink),
      .reply(unique: 4, errno: .EINVAL))
    assertFailure(
      message(.symlink, unique: 4, name("l") + [UInt8](repeating: 0x2F, count: 4096) + [0]),
      .nameTooLong(.symlink, length: 4096), .reply(unique: 4, errno: .ENAMETOOLONG))
    XCTAssertNotNil(
      decode(message(.symlink, name("l") + [UInt8](repeating: 0x2F, count: 4095) + [0])))
    assertFailure(
      message(.removexattr, unique: 4, [0]), .emptyName(.removexattr),
      .reply(unique: 4, errno: .EINVAL))
  }

  func testReplylessOpcodesAreDropped() {
    assertFailure(
      message(.forget, unique: 4, [1, 2, 3]), .shortArgument(.forget, need: 8, have: 3), .drop)
    assertFailure(
      message(.interrupt, unique: 4, []), .shortArgument(.interrupt, need: 8, have: 0), .drop)
    assertFailure(
      message(
        .batchForget, unique: 4,
        FuseBatchForgetIn(count: 3).wireBytes + [UInt8](repeating: 0, count: 32)),
      .sizeMismatch(.batchForget, declared: 48, have: 32), .drop)
    assertFailure(
      message(.batchForget, unique: 4, FuseBatchForgetIn(count: .max).wireBytes),
      .sizeMismatch(.batchForget, declared: Int(UInt32.max) * 16, have: 0), .drop)
    assertFailure(
      message(.notifyReply, unique: 4, [0]), .shortArgument(.notifyReply, need: 40, have: 1), .drop)
  }

  // MARK: - Replies

  func testReplySizesFollowTheMinor() {
    let attr = FuseAttr(ino: 2, mode: 0o100644)
    let entry = FuseEntryOut(nodeid: 2, generation: 1, entryValid: 1, attr: attr)
    let enc = FuseReplyEncoder()
    let e = enc.entry(unique: 11, entry)
    XCTAssertEqual(e.count, 16 + 128)
    XCTAssertEqual(
      FuseOutHeader(wire: FuseWireBytes(e)), FuseOutHeader(len: 144, error: 0, unique: 11))
    XCTAssertEqual(FuseEntryOut.decode(FuseWireBytes(Array(e.dropFirst(16)))), entry)
    XCTAssertEqual(FuseReplyEncoder(minor: 8).entry(unique: 11, entry).count, 16 + 120)
    XCTAssertEqual(enc.attr(unique: 1, FuseAttrOut(attr: attr)).count, 16 + 104)
    XCTAssertEqual(
      FuseReplyEncoder(minor: 8).attr(unique: 1, FuseAttrOut(attr: attr)).count, 16 + 96)
    XCTAssertEqual(enc.open(unique: 1, FuseOpenOut(fh: 3)).count, 32)
    XCTAssertEqual(enc.create(unique: 1, entry, FuseOpenOut(fh: 3)).count, 16 + 128 + 16)
    XCTAssertEqual(enc.write(unique: 1, FuseWriteOut(size: 5)).count, 24)
    XCTAssertEqual(enc.empty(unique: 1).count, 16)
    XCTAssertEqual(enc.data(unique: 1, [1, 2, 3]).count, 19)
    let err = enc.error(unique: 12, .ENOENT)
    XCTAssertEqual(
      FuseOutHeader(wire: FuseWireBytes(err)), FuseOutHeader(len: 16, error: -2, unique: 12))
    // INIT's reply is sized by the kernel's minor: 8 / 24 / 64.
    let out = FuseInitOut(
      minor: 45, maxReadahead: 1 << 17, flags: [.asyncRead], maxWrite: 1 << 20, maxPages: 256)
    XCTAssertEqual(enc.initReply(unique: 2, out, kernelMinor: 4).count, 16 + 8)
    XCTAssertEqual(enc.initReply(unique: 2, out, kernelMinor: 22).count, 16 + 24)
    XCTAssertEqual(enc.initReply(unique: 2, out, kernelMinor: 45).count, 16 + 64)
    let r = enc.initReply(unique: 2, out, kernelMinor: 45)
    XCTAssertEqual(FuseInitOut.decode(FuseWireBytes(Array(r.dropFirst(16)))), out)
  }

  // MARK: - Fuzzer

  /// One valid request per decodable shape: the mutation corpus.
  func corpus() -> [[UInt8]] {
    let cr = FuseCreateIn(flags: 0o101, mode: 0o100644, umask: 0o22).wireBytes
    return [
      message(.lookup, name("file")),
      message(.forget, FuseForgetIn(nlookup: 1).wireBytes),
      message(.getattr, FuseGetattrIn(getattrFlags: 1, fh: 2).wireBytes),
      message(.setattr, FuseSetattrIn(valid: [.size], size: 10).wireBytes),
      message(.readlink),
      message(.symlink, name("ln") + name("/tmp/target")),
      message(.mknod, FuseMknodIn(mode: 0o20644, rdev: 0x103).wireBytes + name("dev")),
      message(.mkdir, FuseMkdirIn(mode: 0o755).wireBytes + name("dir")),
      message(.unlink, name("gone")),
      message(.rename, FuseLinkIn(oldnodeid: 3).wireBytes + name("a") + name("b")),
      message(.rename2, FuseRename2In(newdir: 3, flags: 1).wireBytes + name("a") + name("b")),
      message(.link, FuseLinkIn(oldnodeid: 8).wireBytes + name("hard")),
      message(.open, FuseOpenIn(flags: 2).wireBytes),
      message(.read, FuseReadIn(fh: 1, offset: 0, size: 4096).wireBytes),
      message(
        .write, FuseWriteIn(fh: 1, offset: 0, size: 16).wireBytes + [UInt8](repeating: 7, count: 16)
      ),
      message(.release, FuseReleaseIn(fh: 1).wireBytes),
      message(.fsync, FuseFsyncIn(fh: 1).wireBytes),
      message(.setxattr, FuseSetxattrIn(size: 2).wireBytes.prefix(8) + name("user.k") + [1, 2]),  // no SETXATTR_EXT
      message(.getxattr, FuseGetxattrIn(size: 64).wireBytes + name("security.capability")),
      message(.listxattr, FuseGetxattrIn(size: 64).wireBytes),
      message(.removexattr, name("user.k")),
      message(.flush, FuseFlushIn(fh: 1).wireBytes),
      message(
        .fuseInit,
        FuseInitIn(major: 7, minor: 45, maxReadahead: 4096, flags: [.initExt, .overIOUring])
          .wireBytes),
      message(.create, cr + name("new")),
      message(.tmpfile, cr),
      message(.interrupt, FuseInterruptIn(unique: 5).wireBytes),
      message(
        .ioctl,
        FuseIoctlIn(fh: 1, flags: 0, cmd: 1, arg: 0, inSize: 4, outSize: 4).wireBytes + [
          1, 2, 3, 4,
        ]),
      message(.poll, FusePollIn(fh: 1, kh: 2, flags: 1, events: 1).wireBytes),
      message(
        .batchForget,
        FuseBatchForgetIn(count: 2).wireBytes + FuseForgetOne(nodeid: 2, nlookup: 1).wireBytes
          + FuseForgetOne(nodeid: 3, nlookup: 1).wireBytes),
      message(.fallocate, FuseFallocateIn(fh: 1, offset: 0, length: 4096).wireBytes),
      message(.lseek, FuseLseekIn(fh: 1, offset: 0, whence: 3).wireBytes),
      message(.statx, FuseStatxIn(getattrFlags: 0, fh: 0, sxFlags: 0, sxMask: 0xFFF).wireBytes),
      message(
        .mkdir, FuseMkdirIn(mode: 0o755).wireBytes + name("x"),
        extensions: [UInt8](repeating: 1, count: 16)),
    ]
  }

  /// What must hold of any decode result, whatever the bytes.
  func checkSane(_ bytes: [UInt8], _ decoder: FuseRequestDecoder) -> Bool {
    do {
      let req = try decoder.decode(bytes)
      guard Int(req.header.len) == bytes.count, req.opcode.rawValue == req.header.opcode else {
        return false
      }
      guard req.extensions.count == Int(req.header.totalExtlen) * 8 else { return false }
      func ok(_ n: FuseName, slash: Bool = false) -> Bool {
        !n.bytes.isEmpty && n.bytes.count <= 255 && !n.bytes.contains(0)
          && (slash || !n.bytes.contains(0x2F))
      }
      switch req.body {
      case .lookup(let n), .unlink(let n), .rmdir(let n), .mknod(_, let n), .mkdir(_, let n),
        .create(_, let n),
        .link(_, let n):
        return ok(n)
      case .rename(_, let a, let b), .rename2(_, let a, let b): return ok(a) && ok(b)
      case .symlink(let n, let t): return ok(n) && !t.isEmpty && t.count <= 4095 && !t.contains(0)
      case .getxattr(_, let n), .removexattr(let n): return ok(n, slash: true)
      case .setxattr(let a, let n, let v): return ok(n, slash: true) && v.count == Int(a.size)
      case .write(let a, let d): return d.count == Int(a.size)
      case .ioctl(let a, let d): return d.count == Int(a.inSize)
      case .batchForget(let e): return e.count * 16 <= bytes.count
      default: return true
      }
    } catch {
      switch error.disposition {
      case .drop:
        return error.header == nil || error.header!.unique == 0
          || (FuseKernelOpcode(rawValue: error.header!.opcode)?.isReplyless ?? false)
      case .reply(let unique, let errno):
        return error.header?.unique == unique && unique != 0
          && [Errno.EIO, .EINVAL, .ENOSYS, .ENAMETOOLONG].contains(errno)
      }
    }
  }

  /// Random buffers and mutations of valid requests (truncated, lengths too
  /// big or small, flipped bytes, NULs removed or added, opcodes swapped):
  /// the decoder never traps, and each result is a request whose fields hold,
  /// or an error whose reply is sane. Deterministic (seeded); 50k cases, well under a second here.
  func testFuzzDecoderNeverTrapsAndStaysSane() {
    var rng = SeededGenerator(state: 0x5EED_F05E)
    let seeds = corpus()
    let decoders = [
      FuseRequestDecoder(), FuseRequestDecoder(setxattrExt: true), FuseRequestDecoder(minor: 8),
    ]
    // Every seed decodes as it is (else the mutations below test nothing).
    for (i, s) in seeds.enumerated() { XCTAssertNotNil(try? decoders[0].decode(s), "seed \(i)") }
    let start = ContinuousClock.now
    let budget = Duration.seconds(2)  // a bound, not the measure: the cases are fixed
    var cases = 0
    var decoded = 0
    var insane: [[UInt8]] = []
    for round in 0..<50_000 {
      if round % 256 == 0, ContinuousClock.now - start > budget { break }
      var b: [UInt8]
      switch Int.random(in: 0..<10, using: &rng) {
      case 0:  // pure noise
        b = (0..<Int.random(in: 0..<160, using: &rng)).map { _ in
          UInt8.random(in: 0...255, using: &rng)
        }
      case 1:  // noise behind a plausible header
        let op = FuseKernelOpcode.allCases.randomElement(using: &rng)!.rawValue
        let body = (0..<Int.random(in: 0..<120, using: &rng)).map { _ in
          UInt8.random(in: 0...255, using: &rng)
        }
        b = message(rawOpcode: op, unique: UInt64.random(in: 0...3, using: &rng), body)
      default:
        b = seeds.randomElement(using: &rng)!
        for _ in 0..<Int.random(in: 1...3, using: &rng) { mutate(&b, &rng) }
      }
      cases += 1
      let decoder = decoders.randomElement(using: &rng)!
      if (try? decoder.decode(b)) != nil { decoded += 1 }
      if !checkSane(b, decoder), insane.count < 5 { insane.append(b) }
    }
    XCTAssertEqual(insane, [], "insane results")
    XCTAssertGreaterThan(cases, 1000)
    XCTAssertGreaterThan(decoded, cases / 20, "mutations still reach the typed decoders")
    print(
      "FuseProtocolTests fuzz: \(cases) cases, \(decoded) decoded, in \(ContinuousClock.now - start)"
    )
  }

  /// The WRITE fast path (data left in the transport's buffer) accepts only
  /// what the full decoder accepts, with the same header and fuse_write_in:
  /// checked on every seed and on mutated WRITEs (lengths, opcode, sizes,
  /// extensions changed), for both argument sizes (minor 8 and current).
  func testWriteHeadAgreesWithTheFullDecoder() {
    var rng = SeededGenerator(state: 0x3717_E5)
    let data = [UInt8](repeating: 0x5A, count: 300)
    let writes = [
      message(.write, FuseWriteIn(fh: 9, offset: 4096, size: 300).wireBytes + data),
      message(.write, FuseWriteIn(fh: 1, offset: 0, size: 0).wireBytes),
    ]
    var accepted = 0
    for decoder in [FuseRequestDecoder(), FuseRequestDecoder(minor: 8)] {
      let headSize = FuseInHeader.wireSize + decoder.argumentSize(.write)
      for round in 0..<5_000 {
        var b = round < 2 ? writes[round] : writes.randomElement(using: &rng)!
        if round >= 2 {
          for _ in 0..<Int.random(in: 1...2, using: &rng) { mutate(&b, &rng) }
        }
        guard b.count >= headSize else { continue }
        let head = FuseWireBytes(Array(b[0..<headSize]))
        guard let fast = decoder.decodeWriteHead(head, dataCount: b.count - headSize) else {
          continue
        }
        accepted += 1
        guard let full = try? decoder.decode(b), case .write(let w, let d) = full.body else {
          XCTFail("fast path took what decode refuses: \(b.prefix(96))")
          return
        }
        XCTAssertEqual(fast.header, full.header)
        XCTAssertEqual(fast.write, w)
        XCTAssertEqual(d.count, b.count - headSize)
      }
    }
    // The unmutated WRITEs of both decoders at least (the minor-8 one reads
    // a shorter fuse_write_in, so it takes the current layout only by chance).
    XCTAssertGreaterThanOrEqual(accepted, 2)
  }

  /// One mutation of a request.
  func mutate(_ b: inout [UInt8], _ rng: inout SeededGenerator) {
    func at() -> Int { b.isEmpty ? 0 : Int.random(in: 0..<b.count, using: &rng) }
    func setLen(_ v: UInt32) {
      guard b.count >= 4 else { return }
      for i in 0..<4 { b[i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }
    switch Int.random(in: 0..<10, using: &rng) {
    case 0: b = Array(b.prefix(at()))  // truncated, len left as it was
    case 1:  // truncated, len agreeing
      b = Array(b.prefix(max(40, at())))
      setLen(UInt32(b.count))
    case 2: setLen(UInt32(b.count) &+ UInt32.random(in: 1...64, using: &rng))  // len too big
    case 3: setLen(UInt32(b.count) &- UInt32.random(in: 1...64, using: &rng))  // len too small
    case 4: if !b.isEmpty { b[at()] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng) }  // flipped bit
    case 5:  // a NUL removed (names run on)
      if let i = b.indices.filter({ $0 >= 40 && b[$0] == 0 }).randomElement(using: &rng) {
        b[i] = 0x61
      }
    case 6:  // a NUL or '/' added
      if b.count > 40 {
        b[Int.random(in: 40..<b.count, using: &rng)] = Bool.random(using: &rng) ? 0 : 0x2F
      }
    case 7:  // another opcode on the same body
      if b.count >= 8 {
        b[4] = UInt8(FuseKernelOpcode.allCases.randomElement(using: &rng)!.rawValue & 0xFF)
      }
    case 8:  // extensions length garbage
      if b.count >= 38 {
        b[36] = UInt8.random(in: 0...4, using: &rng)
        b[37] = Bool.random(using: &rng) ? 0 : 0xFF
      }
    default:  // bytes appended, len agreeing (trailing junk, size fields exceeded)
      b += (0..<Int.random(in: 1...300, using: &rng)).map { _ in
        UInt8.random(in: 0...255, using: &rng)
      }
      setLen(UInt32(b.count))
    }
  }
}
