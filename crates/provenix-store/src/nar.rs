//! NAR dump, hash and unpack of file trees (being written, #2).
