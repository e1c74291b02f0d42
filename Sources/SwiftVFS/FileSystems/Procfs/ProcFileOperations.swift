import SwiftVFSCore

/// The generated files and controls of the proc tree, like proc_reg_file_ops
/// with seq_file (fs/seq_file.c) for reading and proc_sys_call_handler
/// (fs/proc/proc_sysctl.c) for the controls.
///
/// Open makes the whole text at once and keeps it in the File (a snapshot,
/// so a reader that reads in pieces sees one consistent state); reads copy
/// from it. The size is not known before, so the file is opened with direct
/// I/O and stat shows size 0, as /proc files do: `cat`, `less`, `grep` and
/// `watch -n1 cat` read until a read returns 0.
///
/// A write to a control must be the whole value at offset 0, at most
/// `ProcControl.maxWrite` bytes; it is parsed and applied at once (EINVAL for
/// anything else). Permissions are checked on open as sysctl_perm() checks
/// them: the mode's bits alone decide, for root too, so a 0444 file can't be
/// opened for writing (EACCES) nor a 0200 control for reading.
struct ProcFileOperations: InodeOperations, FileOperations {
  /// The text made at open.
  final class Snapshot: @unchecked Sendable {
    let bytes: [UInt8]
    init(_ text: String) { bytes = Array(text.utf8) }
  }

  /// Like proc_sys_setattr(): the owner and mode are fixed (EPERM); a size
  /// (the O_TRUNC of `echo 3 > drop_caches`) and times are taken and ignored.
  func setattr(_ inode: Inode, _ attr: SetAttr, cred: Cred) throws(Errno) {
    if attr.mode != nil || attr.uid != nil || attr.gid != nil { throw .EPERM }
  }

  func open(_ inode: Inode, _ file: File) throws(Errno) {
    try ProcControl.checkPermission(inode, file)
    file.directIO = true
    guard file.isReadable else { return }
    switch ProcNode.of(inode).content {
    case .text(let make), .control(read: .some(let make), _):
      file.privateData = Snapshot(make())
    default:
      break
    }
  }

  func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    guard let snapshot = file.privateData as? Snapshot else { throw .EINVAL }
    let bytes = snapshot.bytes
    guard offset < Int64(bytes.count) else { return 0 }
    let start = Int(offset)
    let n = min(buffer.count, bytes.count - start)
    bytes.withUnsafeBytes { src in
      buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + n)]))
    }
    return n
  }

  func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(Errno)
    -> Int
  {
    guard case .control(_, let apply) = ProcNode.of(file.inode).content else { throw .EINVAL }
    try apply(try ProcControl.text(buffer, at: offset))
    return buffer.count
  }

  /// Nothing to sync; `echo` and shells may ask.
  func fsync(_ file: File, dataOnly: Bool) throws(Errno) {}
}
