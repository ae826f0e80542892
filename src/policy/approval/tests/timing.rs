//! When an approval was given: before a retarget, after the merge, or too long ago.
