// struct fuse_dirent (linux/fuse.h): one record of a READDIR reply. The
// kernel's fuse_parse_dirfile() reads records of ino, off, namelen and type,
// then the name, each padded with zeros to 8 bytes (FUSE_DIRENT_ALIGN).

/// Writes `struct fuse_dirent` records into a READDIR reply buffer in place,
/// byte for byte as libfuse's fuse_add_direntry() does, but from a name's
/// bytes and length: no strlen and no NUL-terminated copy per entry.
enum FuseDirent {
  /// FUSE_NAME_OFFSET: the name follows ino, off, namelen and type.
  static let nameOffset = 24

  /// FUSE_DIRENT_SIZE: the record's size for a name of `nameLength` bytes.
  static func size(nameLength: Int) -> Int { (nameOffset + nameLength + 7) & ~7 }

  /// Adds one record at `buffer` if it fits in `remaining` bytes, and
  /// returns its size either way: larger than `remaining` means it did not
  /// fit and nothing was written (fuse_add_direntry()'s contract). `mode`
  /// gives the type (`(mode & S_IFMT) >> 12`, the DT_* value).
  static func add(
    to buffer: UnsafeMutableRawPointer, remaining: Int, name: UnsafeRawBufferPointer,
    ino: UInt64, offset: Int64, mode: UInt32
  ) -> Int {
    let size = size(nameLength: name.count)
    guard size <= remaining else { return size }
    buffer.storeBytes(of: ino, toByteOffset: 0, as: UInt64.self)
    buffer.storeBytes(of: offset, toByteOffset: 8, as: Int64.self)
    buffer.storeBytes(of: UInt32(truncatingIfNeeded: name.count), toByteOffset: 16, as: UInt32.self)
    buffer.storeBytes(of: (mode & 0o170000) >> 12, toByteOffset: 20, as: UInt32.self)
    let tail = buffer + nameOffset
    if let bytes = name.baseAddress { tail.copyMemory(from: bytes, byteCount: name.count) }
    (tail + name.count).initializeMemory(
      as: UInt8.self, repeating: 0, count: size - nameOffset - name.count)
    return size
  }
}
