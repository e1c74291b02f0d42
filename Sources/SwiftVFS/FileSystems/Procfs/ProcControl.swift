import SwiftVFSCore

/// Checks and parsing shared by the proc files, like sysctl_perm() and
/// proc_dointvec_minmax() (fs/proc/proc_sysctl.c, kernel/sysctl.c).
enum ProcControl {
  /// The longest write a control takes; more is EINVAL (no value is that long).
  static let maxWrite = 64

  /// Like sysctl_perm() / test_perm(): the owner's bits for the owner (root
  /// has no override here), the group's for its group, else the others'.
  /// EACCES when the open asks for what the mode does not give.
  static func checkPermission(_ inode: Inode, _ file: File) throws(Errno) {
    let (mode, uid, gid) = inode.lock.withLock { (inode.mode, inode.uid, inode.gid) }
    let bits: UInt32
    if file.cred.uid == uid {
      bits = mode >> 6 & 7
    } else if file.cred.gid == gid {
      bits = mode >> 3 & 7
    } else {
      bits = mode & 7
    }
    if file.isReadable, bits & 4 == 0 { throw .EACCES }
    if file.isWritable || file.flags & OpenFlags.truncate != 0, bits & 2 == 0 { throw .EACCES }
  }

  /// The text of a control write: the whole value at offset 0, UTF-8, with
  /// surrounding blanks and the newline `echo` adds taken off. EINVAL for a
  /// write elsewhere, an empty or oversized one, or bytes that are not text.
  static func text(_ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(Errno) -> String {
    guard offset == 0, buffer.count > 0, buffer.count <= maxWrite else { throw .EINVAL }
    let bytes = Array(buffer)
    guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else {
      throw .EINVAL
    }
    let trimmed = text.trimmingBlanks
    guard !trimmed.isEmpty else { throw .EINVAL }
    return trimmed
  }

  /// Like proc_dointvec_minmax() for one value: decimal digits with an
  /// optional sign, in `range`; EINVAL otherwise (overflow included).
  static func integer(_ text: String, in range: ClosedRange<Int>) throws(Errno) -> Int {
    var digits = Substring(text)
    var negative = false
    if let sign = digits.first, sign == "-" || sign == "+" {
      negative = sign == "-"
      digits = digits.dropFirst()
    }
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
      let magnitude = Int(digits)
    else { throw .EINVAL }
    let value = negative ? -magnitude : magnitude
    guard range.contains(value) else { throw .EINVAL }
    return value
  }
}

extension String {
  /// Without leading and trailing spaces, tabs and newlines.
  package var trimmingBlanks: String {
    let blanks: Set<Character> = [" ", "\t", "\n", "\r", "\r\n"]
    var s = Substring(self)
    while let c = s.first, blanks.contains(c) { s = s.dropFirst() }
    while let c = s.last, blanks.contains(c) { s = s.dropLast() }
    return String(s)
  }
}
