//! Pure parts of the desktop camera: choosing a mode and naming backend errors.
//! Compiled without the `desktop-camera` feature so they are tested everywhere.

use serde::{Deserialize, Serialize};

use crate::error::CameraErrorKind;

/// Pixel formats a camera may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelFormat {
    /// Packed YUV 4:2:2, no decoding cost.
    Yuyv,
    /// Motion JPEG, needs a JPEG decode per frame.
    Mjpeg,
    /// Planar YUV 4:2:0.
    Nv12,
    /// Packed RGB.
    Rgb,
    /// Packed BGR.
    Bgr,
    /// Grey levels.
    Gray,
}

impl PixelFormat {
    fn rank(self) -> u32 {
        match self {
            PixelFormat::Yuyv => 0,
            PixelFormat::Mjpeg => 1,
            PixelFormat::Nv12 => 2,
            PixelFormat::Rgb | PixelFormat::Bgr => 3,
            PixelFormat::Gray => 4,
        }
    }
}

/// One mode a camera offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CameraMode {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Pixel format.
    pub format: PixelFormat,
}

/// What we ask of a camera. The defaults suit the face checks: about 640x480, which is
/// plenty for a face that fills a webcam frame and keeps detection cheap.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModePreference {
    /// Preferred width.
    pub width: u32,
    /// Preferred height.
    pub height: u32,
    /// Preferred frame rate.
    pub fps: u32,
    /// Smallest acceptable size (each side).
    pub min_width: u32,
    /// Smallest acceptable height.
    pub min_height: u32,
    /// Largest acceptable width (bigger frames only cost CPU).
    pub max_width: u32,
    /// Largest acceptable height.
    pub max_height: u32,
    /// Lowest acceptable frame rate.
    pub min_fps: u32,
}

impl Default for ModePreference {
    fn default() -> Self {
        ModePreference {
            width: 640,
            height: 480,
            fps: 30,
            min_width: 320,
            min_height: 240,
            max_width: 1920,
            max_height: 1080,
            min_fps: 10,
        }
    }
}

/// Picks the mode closest to the preference: size first (by area ratio, slightly
/// preferring larger over smaller), then frame rate, then the cheaper pixel format.
/// `None` if no mode is within the limits.
pub fn choose_mode(modes: &[CameraMode], pref: &ModePreference) -> Option<CameraMode> {
    let target = (pref.width as f64 * pref.height as f64).max(1.0);
    modes
        .iter()
        .filter(|m| {
            m.width >= pref.min_width
                && m.height >= pref.min_height
                && m.width <= pref.max_width
                && m.height <= pref.max_height
                && m.fps >= pref.min_fps
        })
        .min_by_key(|m| {
            let ratio = (m.width as f64 * m.height as f64) / target;
            // Smaller than wanted costs twice as much as larger.
            let size_cost = if ratio >= 1.0 {
                ratio.ln()
            } else {
                -2.0 * ratio.ln()
            };
            (
                (size_cost * 100.0).round() as i64,
                (m.fps as i64 - pref.fps as i64).abs(),
                m.format.rank(),
            )
        })
        .copied()
}

/// Names a backend error message. Backends only give text (V4L2 passes the OS error,
/// Media Foundation an HRESULT, AVFoundation a description), so this matches the known
/// phrasings. `streaming` tells an error while frames were flowing (a vanished device
/// is then [`CameraErrorKind::Disconnected`]) from one while opening
/// ([`CameraErrorKind::NoCamera`]).
pub fn classify_backend_error(message: &str, streaming: bool) -> CameraErrorKind {
    let m = message.to_lowercase();
    let any = |pats: &[&str]| pats.iter().any(|p| m.contains(p));
    if any(&[
        "permission denied",
        "os error 13",
        "access is denied",
        "accessdenied",
        "0x80070005",
        "not authorized",
        "not authorised",
        "authorization",
        "operation not permitted",
        "os error 1)",
    ]) {
        CameraErrorKind::PermissionDenied
    } else if any(&[
        "busy",
        "os error 16",
        "in use",
        "being used",
        "0xc00d3704",
        "0xc00d3e85",
    ]) {
        CameraErrorKind::Busy
    } else if any(&[
        "no such device",
        "os error 19",
        "no such file",
        "os error 2)",
        "disconnected",
        "not found",
        "0xc00d3ea2",
        "invalidated",
        "broken pipe",
        "os error 5)",
        "input/output error",
    ]) {
        if streaming {
            CameraErrorKind::Disconnected
        } else {
            CameraErrorKind::NoCamera
        }
    } else {
        CameraErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(width: u32, height: u32, fps: u32, format: PixelFormat) -> CameraMode {
        CameraMode {
            width,
            height,
            fps,
            format,
        }
    }

    #[test]
    fn prefers_vga_then_fps_then_cheap_format() {
        let modes = [
            m(1920, 1080, 30, PixelFormat::Mjpeg),
            m(1280, 720, 30, PixelFormat::Mjpeg),
            m(640, 480, 30, PixelFormat::Mjpeg),
            m(640, 480, 30, PixelFormat::Yuyv),
            m(640, 480, 15, PixelFormat::Yuyv),
            m(320, 240, 30, PixelFormat::Yuyv),
        ];
        let p = ModePreference::default();
        assert_eq!(
            choose_mode(&modes, &p),
            Some(m(640, 480, 30, PixelFormat::Yuyv))
        );
        // Without VGA, 720p (larger) wins over 320x240 (smaller).
        let no_vga: Vec<_> = modes.iter().copied().filter(|x| x.width != 640).collect();
        assert_eq!(
            choose_mode(&no_vga, &p),
            Some(m(1280, 720, 30, PixelFormat::Mjpeg))
        );
        // Only 4K at 5 fps: nothing acceptable.
        assert_eq!(
            choose_mode(&[m(3840, 2160, 5, PixelFormat::Mjpeg)], &p),
            None
        );
        assert_eq!(choose_mode(&[], &p), None);
    }

    #[test]
    fn backend_messages_are_named() {
        use CameraErrorKind::*;
        let cases = [
            (
                "Could not open device 0: V4L2 Error: Permission denied (os error 13)",
                false,
                PermissionDenied,
            ),
            (
                "Could not open device 0: V4L2 Error: Device or resource busy (os error 16)",
                false,
                Busy,
            ),
            (
                "Could not open device 0: V4L2 Error: No such file or directory (os error 2)",
                false,
                NoCamera,
            ),
            (
                "Could not capture frame: No such device (os error 19)",
                true,
                Disconnected,
            ),
            (
                "MF_E_VIDEO_RECORDING_DEVICE_INVALIDATED 0xC00D3EA2",
                true,
                Disconnected,
            ),
            ("HRESULT 0x80070005 E_ACCESSDENIED", false, PermissionDenied),
            (
                "The device is being used by another application 0xC00D3704",
                false,
                Busy,
            ),
            ("something odd", false, Other),
        ];
        for (msg, streaming, kind) in cases {
            assert_eq!(classify_backend_error(msg, streaming), kind, "{msg}");
        }
    }
}
