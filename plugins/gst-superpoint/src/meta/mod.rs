//! Buffer metas carrying SuperPoint results, with a Rust API for applications:
//! [`SuperPointKeypointsMeta`] (keypoints and descriptors, from `superpointdetect`),
//! [`SuperPointMatchesMeta`] (matches and homographies, from `superpointmatch`) and
//! [`HomographyMeta`] (the warp `homographicwarp` applied).
//!
//! Each meta holds an `Arc` of plain Rust data (the payload types live in the GStreamer-free
//! [`superpoint::tracking`]), so copying a meta onto another buffer (e.g. when a buffer is made
//! writable downstream) costs a reference count, not the descriptors.
//!
//! Reading keypoints in an application (pad probe or appsink):
//! ```no_run
//! use gstsuperpoint::meta::SuperPointKeypointsMeta;
//! # fn probe(buffer: &gst::BufferRef) {
//! if let Some(meta) = buffer.meta::<SuperPointKeypointsMeta>() {
//!     for (i, kp) in meta.keypoints().iter().enumerate() {
//!         let descriptor: Option<&[f32]> = meta.descriptor(i);
//!         println!("{} {} {} {:?}", kp.x, kp.y, kp.score, descriptor.map(|d| d.len()));
//!     }
//! }
//! # }
//! ```
//!
//! Reading the estimated motion:
//! ```no_run
//! use gstsuperpoint::meta::{MatchStatus, SuperPointMatchesMeta};
//! # fn probe(buffer: &gst::BufferRef) {
//! if let Some(meta) = buffer.meta::<SuperPointMatchesMeta>() {
//!     let m = meta.data();
//!     if m.status == MatchStatus::Ok {
//!         let h = m.homography.expect("ok frames have a homography");
//!         println!("{} inliers of {} matches, H = {:?}", m.num_inliers, m.pairs.len(), h.0);
//!     }
//! }
//! # }
//! ```
//!
//! Conventions: pixel coordinates with (0,0) the centre of the top-left pixel, x right, y down;
//! every [`Homography`](superpoint::Homography) maps `(x, y, 1)` of the frame named first to the
//! frame named second.

pub mod homography;
pub mod keypoints;
pub mod matches;

pub use homography::{HomographyData, HomographyMeta, WarpKind};
pub use keypoints::{Keypoint, KeypointsData, SuperPointKeypointsMeta};
pub use matches::{MatchPair, MatchStatus, MatchTarget, MatchesData, SuperPointMatchesMeta};

/// Defines a buffer meta type `$name` holding an `Arc<$data>`.
///
/// `$tags` are the meta API tags (e.g. `["video", "size"]`); `$scale` is called when a transform
/// scales the video (`gst_video::VideoMetaTransformScale`), to return data in the new size, or
/// `None` to drop the meta.
macro_rules! define_arc_meta {
    ($(#[$attr:meta])* $name:ident, $data:ty, $api:literal, $impl_name:literal, [$($tag:literal),*], $scale:expr) => {
        $(#[$attr])*
        #[repr(transparent)]
        pub struct $name($crate::meta::imp_meta::ArcMeta<$data>);

        // SAFETY: the payload is an `Arc` of Send + Sync data.
        unsafe impl Send for $name {}
        unsafe impl Sync for $name {}

        impl $name {
            /// Attaches `data` to `buffer`, replacing nothing (several metas may coexist; readers
            /// take the first).
            pub fn add(buffer: &mut gst::BufferRef, data: Arc<$data>) -> gst::MetaRefMut<'_, Self, gst::meta::Standalone> {
                unsafe {
                    let mut params = std::mem::ManuallyDrop::new(Some(data));
                    let meta = gst::ffi::gst_buffer_add_meta(
                        buffer.as_mut_ptr(),
                        Self::info(),
                        &mut *params as *mut Option<Arc<$data>> as glib::ffi::gpointer,
                    ) as *mut $crate::meta::imp_meta::ArcMeta<$data>;
                    <Self as gst::meta::MetaAPIExt>::from_mut_ptr(buffer, meta)
                }
            }

            /// The shared payload.
            pub fn data(&self) -> &Arc<$data> {
                self.0.data.as_ref().expect("initialised meta")
            }

            fn api_type() -> glib::Type {
                static TYPE: std::sync::LazyLock<glib::Type> = std::sync::LazyLock::new(|| {
                    $crate::meta::imp_meta::register_api($api, &[$($tag),*])
                });
                *TYPE
            }

            fn info() -> *const gst::ffi::GstMetaInfo {
                static INFO: std::sync::LazyLock<$crate::meta::imp_meta::MetaInfoPtr> = std::sync::LazyLock::new(|| {
                    $crate::meta::imp_meta::register_meta::<$data>(
                        $name::api_type(),
                        $impl_name,
                        |dest, data| { $name::add(dest, data); },
                        $scale,
                    )
                });
                INFO.0.as_ptr()
            }
        }

        // SAFETY: `GstType` is the `#[repr(C)]` struct registered with `gst_meta_register`.
        unsafe impl gst::meta::MetaAPI for $name {
            type GstType = $crate::meta::imp_meta::ArcMeta<$data>;
            fn meta_api() -> glib::Type {
                $name::api_type()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($name)).field(self.data()).finish()
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use define_arc_meta;

#[doc(hidden)]
pub mod imp_meta {
    //! The unsafe glue shared by every meta defined with `define_arc_meta!`.
    use std::ptr;
    use std::sync::Arc;

    use glib::translate::{FromGlib, IntoGlib, from_glib};

    /// Layout registered with GStreamer: the GstMeta header, then the payload.
    #[repr(C)]
    pub struct ArcMeta<T> {
        parent: gst::ffi::GstMeta,
        pub(crate) data: Option<Arc<T>>,
    }

    /// A registered `GstMetaInfo`.
    pub struct MetaInfoPtr(pub ptr::NonNull<gst::ffi::GstMetaInfo>);
    // SAFETY: GstMetaInfo is immutable once registered.
    unsafe impl Send for MetaInfoPtr {}
    unsafe impl Sync for MetaInfoPtr {}

    /// Registers (or finds, when another copy of this crate in the process already did) a meta API.
    pub fn register_api(name: &str, tags: &[&str]) -> glib::Type {
        if let Some(t) = glib::Type::from_name(name) {
            return t;
        }
        let name_c = std::ffi::CString::new(name).expect("no NUL");
        let tags_c: Vec<std::ffi::CString> = tags
            .iter()
            .map(|t| std::ffi::CString::new(*t).expect("no NUL"))
            .collect();
        let mut tag_ptrs: Vec<*const std::os::raw::c_char> =
            tags_c.iter().map(|t| t.as_ptr()).collect();
        tag_ptrs.push(ptr::null());
        unsafe {
            from_glib(gst::ffi::gst_meta_api_type_register(
                name_c.as_ptr(),
                tag_ptrs.as_mut_ptr(),
            ))
        }
    }

    /// Rescales a payload to a new frame size (`None` drops the meta).
    pub type ScaleFn<T> = fn(&T, u32, u32) -> Option<T>;

    struct Vtable<T> {
        copy: fn(&mut gst::BufferRef, Arc<T>),
        scale: Option<ScaleFn<T>>,
    }

    /// Registers the meta implementation `name` for `api`.
    pub fn register_meta<T: Send + Sync + 'static>(
        api: glib::Type,
        name: &str,
        copy: fn(&mut gst::BufferRef, Arc<T>),
        scale: Option<ScaleFn<T>>,
    ) -> MetaInfoPtr {
        let name_c = std::ffi::CString::new(name).expect("no NUL");
        unsafe {
            let existing = gst::ffi::gst_meta_get_info(name_c.as_ptr());
            if let Some(p) = ptr::NonNull::new(existing as *mut gst::ffi::GstMetaInfo) {
                return MetaInfoPtr(p);
            }
            // The transform callback has no user data, so the per-type functions live in a
            // process-wide table keyed by the API type.
            vtables().lock().expect("vtable lock").push((
                api.into_glib(),
                Box::into_raw(Box::new(Vtable::<T> { copy, scale })) as usize,
            ));
            let info = gst::ffi::gst_meta_register(
                api.into_glib(),
                name_c.as_ptr(),
                std::mem::size_of::<ArcMeta<T>>(),
                Some(init::<T>),
                Some(free::<T>),
                Some(transform::<T>),
            );
            MetaInfoPtr(ptr::NonNull::new(info as *mut _).expect("gst_meta_register failed"))
        }
    }

    fn vtables() -> &'static std::sync::Mutex<Vec<(glib::ffi::GType, usize)>> {
        static V: std::sync::Mutex<Vec<(glib::ffi::GType, usize)>> =
            std::sync::Mutex::new(Vec::new());
        &V
    }

    unsafe fn vtable<T: 'static>(api: glib::ffi::GType) -> Option<&'static Vtable<T>> {
        let table = vtables().lock().ok()?;
        let addr = table.iter().find(|(a, _)| *a == api)?.1;
        // SAFETY: registered in `register_meta::<T>` for this API type and never freed.
        Some(unsafe { &*(addr as *const Vtable<T>) })
    }

    unsafe extern "C" fn init<T>(
        meta: *mut gst::ffi::GstMeta,
        params: glib::ffi::gpointer,
        _buffer: *mut gst::ffi::GstBuffer,
    ) -> glib::ffi::gboolean {
        unsafe {
            let meta = &mut *(meta as *mut ArcMeta<T>);
            let data = if params.is_null() {
                None
            } else {
                (*(params as *mut Option<Arc<T>>)).take()
            };
            ptr::write(&mut meta.data, data);
        }
        true.into_glib()
    }

    unsafe extern "C" fn free<T>(meta: *mut gst::ffi::GstMeta, _buffer: *mut gst::ffi::GstBuffer) {
        unsafe {
            let meta = &mut *(meta as *mut ArcMeta<T>);
            ptr::drop_in_place(&mut meta.data);
        }
    }

    unsafe extern "C" fn transform<T: 'static>(
        dest: *mut gst::ffi::GstBuffer,
        meta: *mut gst::ffi::GstMeta,
        _buffer: *mut gst::ffi::GstBuffer,
        type_: glib::ffi::GQuark,
        data: glib::ffi::gpointer,
    ) -> glib::ffi::gboolean {
        unsafe {
            let api = (*(*meta).info).api;
            let Some(vt) = vtable::<T>(api) else {
                return false.into_glib();
            };
            let src = &*(meta as *const ArcMeta<T>);
            let Some(payload) = src.data.clone() else {
                return false.into_glib();
            };
            let dest = gst::BufferRef::from_mut_ptr(dest);
            let quark = glib::Quark::from_glib(type_);
            if quark == glib::Quark::from_str("gst-copy") {
                (vt.copy)(dest, payload);
                return true.into_glib();
            }
            if quark == glib::Quark::from_str("gst-video-scale") && !data.is_null() {
                let trans = &*(data as *const gst_video::ffi::GstVideoMetaTransform);
                if let (Some(scale), false) = (vt.scale, trans.out_info.is_null()) {
                    let out = &*trans.out_info;
                    if let Some(scaled) = scale(&payload, out.width as u32, out.height as u32) {
                        (vt.copy)(dest, Arc::new(scaled));
                        return true.into_glib();
                    }
                }
            }
            false.into_glib()
        }
    }
}
