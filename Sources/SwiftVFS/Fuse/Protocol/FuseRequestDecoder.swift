// The daemon's copy_from_user(): turns the bytes of one read(2) on /dev/fuse
// into a FuseRequest, checking every length before it reads. Like go-fuse's
// opcode table, each opcode has the size of its fixed in-argument; names are
// cut at their NUL and checked as the kernel's own lookup_one_len() would
// (non-empty, no '/', at most NAME_MAX). Nothing here can trap: every read
// goes through FuseWireBytes, which is bounds-checked.
//
// Layout of a request: fuse_in_header (40) | arguments | extensions
// (total_extlen * 8 bytes, 7.36). The arguments of each opcode follow
// fuse_lowlevel.c's do_*() handlers:
//   fixed struct only        GETATTR SETATTR OPEN READ ... (longer is tolerated)
//   name\0                   LOOKUP UNLINK RMDIR REMOVEXATTR (nothing after)
//   struct + name\0          MKNOD MKDIR CREATE LINK GETXATTR
//   name\0 target\0          SYMLINK
//   struct + old\0 new\0     RENAME RENAME2
//   struct + data            WRITE (size) IOCTL (in_size)
//   struct + name\0 + value  SETXATTR (size)
//   struct + n * 16          BATCH_FORGET (count)

/// Decodes requests for one connection; the negotiated minor and SETXATTR_EXT
/// decide the sizes of the arguments whose layout changed over time.
public struct FuseRequestDecoder: Sendable {
  /// NAME_MAX: the longest file or xattr name (XATTR_NAME_MAX is 255 too).
  public static let nameMax = 255
  /// PATH_MAX - 1: the longest symlink target.
  public static let linkTargetMax = 4095

  /// The negotiated minor (the newest known before INIT is answered).
  public var minor: UInt32
  /// Whether SETXATTR_EXT was agreed: fuse_setxattr_in is then 16 bytes, else 8.
  public var setxattrExt: Bool

  /// A decoder for a connection that agreed on `minor` and, maybe, SETXATTR_EXT.
  public init(minor: UInt32 = FuseProtocolVersion.minor, setxattrExt: Bool = false) {
    self.minor = minor
    self.setxattrExt = setxattrExt
  }

  /// The size of the fixed in-argument `opcode` needs, before any name or data
  /// (go-fuse's operationHandlers[op].InputSize); the compat sizes follow `minor`.
  public func argumentSize(_ opcode: FuseKernelOpcode) -> Int {
    switch opcode {
    case .lookup, .unlink, .rmdir, .removexattr, .symlink, .readlink, .statfs, .destroy: return 0
    case .forget, .batchForget, .interrupt, .link, .getxattr, .listxattr, .access, .mkdir,
      .open, .opendir, .syncfs:
      return 8
    case .rename: return FuseRename2In.renameInSize
    case .getattr, .fsync, .fsyncdir, .create, .tmpfile, .rename2, .bmap, .cuseInit: return 16
    case .fuseInit: return FuseInitIn.compatSize
    case .mknod: return minor < 12 ? FuseMknodIn.compatSize : FuseMknodIn.wireSize
    case .write: return minor < 9 ? FuseWriteIn.compatSize : FuseWriteIn.wireSize
    case .setxattr: return setxattrExt ? FuseSetxattrIn.wireSize : FuseSetxattrIn.compatSize
    case .setattr: return FuseSetattrIn.wireSize
    case .read, .readdir, .readdirplus, .setupMapping: return 40
    case .notifyReply: return 40  // fuse_notify_retrieve_in
    case .release, .releasedir, .flush, .lseek, .poll, .statx: return 24
    case .ioctl, .fallocate: return 32
    case .getlk, .setlk, .setlkw: return 48  // fuse_lk_in
    case .copyFileRange, .copyFileRange64: return 56
    case .removeMapping: return 4  // fuse_removemapping_in.count
    }
  }

  /// Decodes one whole message, or says what was wrong and what to do about it.
  public func decode(_ bytes: [UInt8]) throws(FuseDecodeFailure) -> FuseRequest {
    try decode(FuseWireBytes(bytes))
  }

  /// Decodes one whole message (the bytes one read(2) returned).
  public func decode(_ message: FuseWireBytes) throws(FuseDecodeFailure) -> FuseRequest {
    guard let headerBytes = message.window(at: 0, length: FuseInHeader.wireSize) else {
      throw FuseDecodeFailure(header: nil, error: .shortHeader(have: message.count))
    }
    let header = FuseInHeader(wire: headerBytes)
    func fail(_ e: FuseDecodeError) -> FuseDecodeFailure {
      FuseDecodeFailure(header: header, error: e)
    }
    guard Int(header.len) == message.count else {
      throw fail(.lengthMismatch(declared: header.len, actual: message.count))
    }
    let afterHeader = message.count - FuseInHeader.wireSize
    let extensionBytes = Int(header.totalExtlen) * 8
    guard extensionBytes <= afterHeader,
      let args = message.window(at: FuseInHeader.wireSize, length: afterHeader - extensionBytes),
      let extensions = message.suffix(from: message.count - extensionBytes)
    else {
      throw fail(.extensionsTooLong(extensionBytes: extensionBytes, payload: afterHeader))
    }
    guard let opcode = FuseKernelOpcode(rawValue: header.opcode) else {
      throw fail(.unknownOpcode(header.opcode))
    }
    let need = argumentSize(opcode)
    guard let fixed = args.window(at: 0, length: need) else {
      throw fail(.shortArgument(opcode, need: need, have: args.count))
    }
    do {
      let body = try decodeBody(opcode, args: args, fixed: fixed)
      return FuseRequest(header: header, opcode: opcode, body: body, extensions: extensions)
    } catch {
      throw fail(error)
    }
  }

  /// The header and fuse_write_in of a WRITE whose data stays where the
  /// transport put it (up to 1 MiB not copied): `head` holds the header and
  /// the fixed argument, `dataCount` bytes follow them. nil for anything
  /// but a well-formed WRITE without extensions: the caller then decodes the
  /// whole message with `decode`, which names what is wrong. Whatever this
  /// returns, `decode` returns too for the same bytes.
  public func decodeWriteHead(_ head: FuseWireBytes, dataCount: Int) -> (
    header: FuseInHeader, write: FuseWriteIn
  )? {
    let fixedSize = argumentSize(.write)
    guard head.count == FuseInHeader.wireSize + fixedSize, dataCount >= 0,
      let headerBytes = head.window(at: 0, length: FuseInHeader.wireSize),
      let fixed = head.window(at: FuseInHeader.wireSize, length: fixedSize)
    else { return nil }
    let header = FuseInHeader(wire: headerBytes)
    guard header.opcode == FuseKernelOpcode.write.rawValue, header.totalExtlen == 0,
      Int(header.len) == head.count + dataCount
    else { return nil }
    let write = FuseWriteIn(wire: fixed)
    guard Int(write.size) == dataCount else { return nil }
    return (header, write)
  }

  /// The typed body; `fixed` is the first `argumentSize(opcode)` bytes of `args`.
  private func decodeBody(
    _ op: FuseKernelOpcode, args: FuseWireBytes, fixed: FuseWireBytes
  ) throws(FuseDecodeError) -> FuseRequestBody {
    var names = FuseNameCursor(op: op, args: args, offset: fixed.count)
    switch op {
    case .lookup: return .lookup(name: try names.last(.entry))
    case .unlink: return .unlink(name: try names.last(.entry))
    case .rmdir: return .rmdir(name: try names.last(.entry))
    case .removexattr: return .removexattr(name: try names.last(.xattr))
    case .symlink:
      let name = try names.next(.entry)
      let target = try names.last(.linkTarget)
      return .symlink(name: name, target: target.bytes)
    case .mknod: return .mknod(FuseMknodIn(wire: fixed), name: try names.last(.entry))
    case .mkdir: return .mkdir(FuseMkdirIn(wire: fixed), name: try names.last(.entry))
    case .create: return .create(FuseCreateIn(wire: fixed), name: try names.last(.entry))
    case .link: return .link(FuseLinkIn(wire: fixed), newName: try names.last(.entry))
    case .getxattr: return .getxattr(FuseGetxattrIn(wire: fixed), name: try names.last(.xattr))
    case .rename:
      let old = try names.next(.entry)
      return .rename(newdir: fixed.u64(at: 0), oldName: old, newName: try names.last(.entry))
    case .rename2:
      let old = try names.next(.entry)
      return .rename2(FuseRename2In(wire: fixed), oldName: old, newName: try names.last(.entry))
    case .setxattr:
      let inArg = FuseSetxattrIn(wire: fixed)
      let name = try names.next(.xattr)
      let value = try exactRest(op, args, from: names.offset, declared: Int(inArg.size))
      return .setxattr(inArg, name: name, value: value)
    case .write:
      let inArg = FuseWriteIn(wire: fixed)
      return .write(
        inArg, data: try exactRest(op, args, from: fixed.count, declared: Int(inArg.size)))
    case .ioctl:
      let inArg = FuseIoctlIn(wire: fixed)
      return .ioctl(
        inArg, input: try exactRest(op, args, from: fixed.count, declared: Int(inArg.inSize)))
    case .batchForget:
      let count = Int(FuseBatchForgetIn(wire: fixed).count)
      let rest = args.count - fixed.count
      // count <= UInt32.max, so count * 16 cannot overflow Int.
      guard count * FuseForgetOne.wireSize <= rest else {
        throw .sizeMismatch(op, declared: count * FuseForgetOne.wireSize, have: rest)
      }
      var entries: [FuseForgetOne] = []
      entries.reserveCapacity(count)
      for i in 0..<count {
        guard
          let one = args.window(
            at: fixed.count + i * FuseForgetOne.wireSize, length: FuseForgetOne.wireSize)
        else { throw .sizeMismatch(op, declared: count * FuseForgetOne.wireSize, have: rest) }
        entries.append(FuseForgetOne(wire: one))
      }
      return .batchForget(entries)
    case .fuseInit:
      // 16 bytes before 7.36, 64 since; a longer one from a newer kernel is read as far as known.
      let known = args.window(at: 0, length: min(args.count, FuseInitIn.wireSize)) ?? fixed
      return .fuseInit(FuseInitIn(wire: known))
    case .forget: return .forget(FuseForgetIn(wire: fixed))
    case .getattr: return .getattr(FuseGetattrIn(wire: fixed))
    case .setattr: return .setattr(FuseSetattrIn(wire: fixed))
    case .readlink: return .readlink
    case .open: return .open(FuseOpenIn(wire: fixed))
    case .opendir: return .opendir(FuseOpenIn(wire: fixed))
    case .read: return .read(FuseReadIn(wire: fixed))
    case .readdir: return .readdir(FuseReadIn(wire: fixed))
    case .readdirplus: return .readdirplus(FuseReadIn(wire: fixed))
    case .statfs: return .statfs
    case .release: return .release(FuseReleaseIn(wire: fixed))
    case .releasedir: return .releasedir(FuseReleaseIn(wire: fixed))
    case .fsync: return .fsync(FuseFsyncIn(wire: fixed))
    case .fsyncdir: return .fsyncdir(FuseFsyncIn(wire: fixed))
    case .listxattr: return .listxattr(FuseGetxattrIn(wire: fixed))
    case .flush: return .flush(FuseFlushIn(wire: fixed))
    case .access: return .access(FuseAccessIn(wire: fixed))
    case .interrupt: return .interrupt(FuseInterruptIn(wire: fixed))
    case .destroy: return .destroy
    case .poll: return .poll(FusePollIn(wire: fixed))
    case .notifyReply: return .notifyReply(args)
    case .fallocate: return .fallocate(FuseFallocateIn(wire: fixed))
    case .lseek: return .lseek(FuseLseekIn(wire: fixed))
    case .syncfs: return .syncfs
    case .tmpfile: return .tmpfile(FuseCreateIn(wire: fixed))
    case .statx: return .statx(FuseStatxIn(wire: fixed))
    case .getlk, .setlk, .setlkw, .bmap, .copyFileRange, .copyFileRange64, .setupMapping,
      .removeMapping, .cuseInit:
      return .unparsed(op, args)
    }
  }

  /// The bytes from `offset` to the end, which must number exactly `declared`.
  private func exactRest(
    _ op: FuseKernelOpcode, _ args: FuseWireBytes, from offset: Int, declared: Int
  ) throws(FuseDecodeError) -> FuseWireBytes {
    let have = args.count - offset
    guard have == declared, let rest = args.window(at: offset, length: declared) else {
      throw .sizeMismatch(op, declared: declared, have: have)
    }
    return rest
  }
}

/// What a NUL-terminated string in a request may hold.
enum FuseNameKind {
  /// A directory entry: 1...255 bytes, no '/'.
  case entry
  /// An xattr name: 1...255 bytes ('/' allowed).
  case xattr
  /// A symlink target: 1...4095 bytes, a path.
  case linkTarget
}

/// Walks the NUL-terminated strings of a request's arguments, in order.
struct FuseNameCursor {
  let op: FuseKernelOpcode
  let args: FuseWireBytes
  /// Where the next string starts.
  var offset: Int

  /// The next string, checked for `kind`; moves past its NUL.
  mutating func next(_ kind: FuseNameKind) throws(FuseDecodeError) -> FuseName {
    guard let nul = args.firstNUL(from: offset),
      let window = args.window(at: offset, length: nul - offset)
    else { throw .unterminatedName(op) }
    let length = window.count
    guard length > 0 else { throw .emptyName(op) }
    let max = kind == .linkTarget ? FuseRequestDecoder.linkTargetMax : FuseRequestDecoder.nameMax
    guard length <= max else { throw .nameTooLong(op, length: length) }
    let bytes = window.bytes
    if kind == .entry, bytes.contains(UInt8(ascii: "/")) { throw .slashInName(op) }
    offset = nul + 1
    return FuseName(bytes)
  }

  /// The last string of the arguments: nothing may follow its NUL.
  mutating func last(_ kind: FuseNameKind) throws(FuseDecodeError) -> FuseName {
    let name = try next(kind)
    guard offset == args.count else { throw .trailingBytes(op, count: args.count - offset) }
    return name
  }
}
