import CFuse
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// The requests only the native engine receives (libfuse 3.14 has no slot for
/// them and answers ENOSYS): TMPFILE, STATX and SYNCFS, served as the
/// kernel's ->tmpfile, ->getattr with STATX_BTIME and ->sync_fs.
extension FuseBridge {
  /// FUSE_TMPFILE, sent by fuse_tmpfile() for open(O_TMPFILE): like CREATE
  /// (the reply is an entry and an open file, fuse_create_open()), but the
  /// file has no name and nlink 0. No INIT flag asks for it: the kernel sends
  /// it until it gets ENOSYS (fc->no_tmpfile, then EOPNOTSUPP).
  func tmpfile(
    _ req: FuseReplier, _ parent: UInt64, _ mode: mode_t,
    _ fi: UnsafeMutablePointer<fuse_file_info>?
  ) {
    serve(req, .tmpfile, parent) { () throws(Errno) -> Inode? in
      let dir = try node(parent)
      guard let fi else { throw .EINVAL }
      let (inode, fh, file) = try vfs.tmpfile(
        dir, mode: UInt32(mode), flags: openFlags(fi.pointee.flags), cred: FuseBridge.cred(req),
        asked: fi.pointee.flags)
      let st: Stat
      do throws(Errno) { st = try statOrForget(inode) } catch {
        vfs.release(fh)
        throw error
      }
      var e = entryParam(inode, stat: st)
      fillOpen(fi, fh, file)
      if req.reply(create: &e, fi) != 0 {
        vfs.release(fh)
        vfs.forget(inode.ino, count: 1)
      }
      return inode
    }
  }
}
