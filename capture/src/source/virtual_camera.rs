//! Virtual-camera device names (R-ID-2): course-farming tools feed a looped video or a
//! photo through a virtual camera. A match does not prove cheating (OBS is common), so
//! the capture records it and refuses the check; the learner is asked to pick a real
//! camera.

/// Lower-case fragments of known virtual or relayed camera names.
///
/// Relays that stream another device's camera (DroidCam, Iriun, EpocCam, Camo) are
/// listed too: the face check must run on the device that plays the course.
pub const VIRTUAL_CAMERA_PATTERNS: &[&str] = &[
    "obs virtual",
    "obs-camera",
    "obs camera",
    "manycam",
    "e2esoft",
    "vcam",
    "splitcam",
    "xsplit",
    "snap camera",
    "camtwist",
    "youcam",
    "cyberlink",
    "chromacam",
    "mmhmm",
    "avatarify",
    "vmix",
    "ndi webcam",
    "ndi video",
    "newtek ndi",
    "droidcam",
    "iriun",
    "epoccam",
    "reincubate camo",
    "v4l2loopback",
    "dummy video device",
    "akvcam",
    "fake_device",
    "fake video",
    "virtual",
    "虚拟",
];

/// The pattern that `name` matches, if it looks like a virtual camera.
pub fn virtual_camera_match(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    VIRTUAL_CAMERA_PATTERNS
        .iter()
        .copied()
        .find(|p| lower.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_known_virtual_cameras() {
        for name in [
            "OBS Virtual Camera",
            "OBS-Camera",
            "ManyCam Virtual Webcam",
            "e2eSoft VCam",
            "e2eSoft iVCam",
            "XSplit VCam",
            "Snap Camera",
            "Dummy video device (0x0000)",
            "DroidCam Source 3",
            "Iriun Webcam",
            "Virtual Camera",
            "虚拟摄像头",
            "fake_device_0",
        ] {
            assert!(virtual_camera_match(name).is_some(), "{name}");
        }
    }

    #[test]
    fn passes_ordinary_webcams() {
        for name in [
            "Integrated Camera: Integrated C",
            "HD Pro Webcam C920",
            "FaceTime HD Camera",
            "USB2.0 HD UVC WebCam",
            "Logitech BRIO",
            "Lenovo EasyCamera",
        ] {
            assert_eq!(virtual_camera_match(name), None, "{name}");
        }
    }
}
