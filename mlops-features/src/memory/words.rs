//! Zeroed, fixed-length buffers of `u64` words for the online store's rows and index, either
//! on the heap or, on Linux, in an anonymous map (advised for transparent huge pages, or on
//! small pages that take memory only as they are written).
//!
//! A read of the store is two dependent random loads (an index slot, then a row). In a store of
//! a GiB on 4 KiB pages about half of each load is the page walk; on 2 MiB pages the TLB covers
//! 512 times more memory a entry. Linux gives huge pages to anonymous memory only when asked
//! if its transparent-huge-page mode is `madvise` (a common default), so large buffers are
//! mapped with `mmap` and advised `MADV_HUGEPAGE` (through `memmap2`'s safe API); the mapping
//! is placed on a 2 MiB boundary so that every 2 MiB of it can be one huge page. Small buffers
//! stay on the heap: a huge page is allocated whole on first touch, which would inflate the
//! memory of a small store.

/// Size of a transparent huge page on x86-64 and most arm64 kernels.
pub(super) const HUGE_PAGE: usize = 2 << 20;

/// A zeroed buffer of `u64` words whose length is fixed at creation.
#[derive(Debug)]
pub(super) struct Words(Repr);

#[derive(Debug)]
enum Repr {
    Heap(Vec<u64>),
    /// `len` words from byte `start` of `map`, `start` on a [`HUGE_PAGE`] boundary.
    #[cfg(target_os = "linux")]
    Mapped {
        map: memmap2::MmapMut,
        start: usize,
        len: usize,
        /// Whether the map was advised for huge pages (else it is on small pages, each
        /// taking memory when first written).
        advised: bool,
    },
}

impl Default for Words {
    fn default() -> Self {
        Self(Repr::Heap(Vec::new()))
    }
}

impl Words {
    /// `len` zero words. With `huge` (and on Linux) they are mapped and advised for huge pages,
    /// the mapping rounded up to whole huge pages; if the map fails they go on the heap.
    pub(super) fn zeroed(len: usize, huge: bool) -> Self {
        Self::zeroed_in(len, huge, huge)
    }

    /// `len` zero words. With `map` (and on Linux) they are in an anonymous map on a huge-page
    /// boundary, advised for huge pages if `huge`; a page of the map takes memory only when it
    /// is first written. Otherwise, or if the map fails, they go on the heap.
    pub(super) fn zeroed_in(len: usize, map: bool, huge: bool) -> Self {
        #[cfg(target_os = "linux")]
        if map && len > 0 {
            match anon_map(len, huge) {
                Ok(words) => return words,
                Err(e) => tracing::debug!(error = %e, "anonymous map failed, using the heap"),
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (map, huge);
        Self(Repr::Heap(vec![0; len]))
    }

    /// Append `extra` zero words to a heap buffer, its capacity growing to `capacity` words
    /// (or more, if that is too few) when it is full. Growth is a `realloc`, which moves a
    /// large block by remapping it (no copy, no freed block left in the heap), and only
    /// the words appended are touched.
    ///
    /// # Panics
    /// On words in a map: their length is fixed.
    pub(super) fn extend_zeroed(&mut self, extra: usize, capacity: usize) {
        match &mut self.0 {
            Repr::Heap(words) => {
                if words.len() + extra > words.capacity() {
                    words.reserve_exact(capacity.max(words.len() + extra) - words.len());
                }
                words.resize(words.len() + extra, 0);
            }
            #[cfg(target_os = "linux")]
            Repr::Mapped { .. } => unreachable!("words in a map do not grow"),
        }
    }

    /// Words the buffer holds without growing.
    pub(super) fn capacity(&self) -> usize {
        match &self.0 {
            Repr::Heap(words) => words.capacity(),
            #[cfg(target_os = "linux")]
            Repr::Mapped { len, .. } => *len,
        }
    }

    /// Whether the words are in a map on a huge-page boundary, advised for huge pages (the
    /// kernel may still back parts of it with small pages when no huge page is free, or all of
    /// it when transparent huge pages are off).
    pub(super) fn is_huge(&self) -> bool {
        match self.0 {
            Repr::Heap(_) => false,
            #[cfg(target_os = "linux")]
            Repr::Mapped { advised, .. } => advised,
        }
    }

    /// Whether the words are in an anonymous map (advised for huge pages or not).
    #[cfg(test)]
    pub(super) fn is_mapped(&self) -> bool {
        !matches!(self.0, Repr::Heap(_))
    }
}

/// Map `len` anonymous words on a huge-page boundary and, if `huge`, advise them
/// `MADV_HUGEPAGE`.
///
/// # Errors
/// The map fails (out of memory or address space).
#[cfg(target_os = "linux")]
fn anon_map(len: usize, huge: bool) -> std::io::Result<Words> {
    use memmap2::{Advice, MmapOptions};
    let too_long = || std::io::Error::from(std::io::ErrorKind::OutOfMemory);
    let bytes = len
        .checked_mul(8)
        .and_then(|b| b.checked_next_multiple_of(HUGE_PAGE))
        .ok_or_else(too_long)?;
    // Linux places an anonymous map whose length is a multiple of the huge-page size on a
    // huge-page boundary; if this one does not, map one huge page more and start inside it.
    let mut map = MmapOptions::new().len(bytes).map_anon()?;
    let mut start = map.as_ptr() as usize % HUGE_PAGE;
    if start != 0 {
        map = MmapOptions::new()
            .len(bytes.checked_add(HUGE_PAGE).ok_or_else(too_long)?)
            .map_anon()?;
        start = (HUGE_PAGE - map.as_ptr() as usize % HUGE_PAGE) % HUGE_PAGE;
    }
    // A kernel without transparent huge pages refuses the advice; the map is still memory.
    if huge && let Err(e) = map.advise_range(Advice::HugePage, start, bytes) {
        tracing::debug!(error = %e, "MADV_HUGEPAGE refused, using small pages");
    }
    Ok(Words(Repr::Mapped {
        map,
        start,
        len,
        advised: huge,
    }))
}

impl std::ops::Deref for Words {
    type Target = [u64];

    #[inline]
    fn deref(&self) -> &[u64] {
        match &self.0 {
            Repr::Heap(words) => words,
            #[cfg(target_os = "linux")]
            Repr::Mapped {
                map, start, len, ..
            } => bytemuck::cast_slice(&map[*start..*start + *len * 8]),
        }
    }
}

impl std::ops::DerefMut for Words {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u64] {
        match &mut self.0 {
            Repr::Heap(words) => words,
            #[cfg(target_os = "linux")]
            Repr::Mapped {
                map, start, len, ..
            } => bytemuck::cast_slice_mut(&mut map[*start..*start + *len * 8]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{HUGE_PAGE, Words};

    #[test]
    fn heap_and_huge_buffers_start_zeroed_and_keep_what_is_written() {
        for (len, huge) in [
            (0, false),
            (0, true),
            (5, false),
            (5, true),
            (HUGE_PAGE / 8 + 3, true),
            (HUGE_PAGE / 8 + 3, false),
        ] {
            let mut w = Words::zeroed(len, huge);
            assert_eq!(w.len(), len);
            assert!(w.iter().all(|&x| x == 0), "{len} {huge}");
            for (i, x) in w.iter_mut().enumerate() {
                *x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            }
            for (i, &x) in w.iter().enumerate() {
                assert_eq!(x, (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            }
            if cfg!(target_os = "linux") && huge && len > 0 {
                assert!(w.is_huge(), "{len}");
                // The words start on a huge-page boundary, so every whole 2 MiB of them can
                // be one huge page.
                assert_eq!(w.as_ptr() as usize % HUGE_PAGE, 0);
            } else {
                assert!(!w.is_huge(), "{len} {huge}");
            }
        }
    }
}
