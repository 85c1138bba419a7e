//! Small grey-image helpers shared by the checks. Pure functions, no I/O.

use image::GrayImage;

/// Bilinear resize of a grey image, with a box pre-filter when shrinking by 2 or more
/// so that downscaled frames do not alias. Returns `src` unchanged (cloned) when the size
/// already matches. Zero-sized targets give an empty image.
pub fn resize_gray(src: &GrayImage, w: u32, h: u32) -> GrayImage {
    let (sw, sh) = src.dimensions();
    if (sw, sh) == (w, h) {
        return src.clone();
    }
    if w == 0 || h == 0 || sw == 0 || sh == 0 {
        return GrayImage::new(w, h);
    }
    // Integer box pre-filter while the source is at least twice the target.
    let fx = sw / w;
    let fy = sh / h;
    let binned;
    let src = if fx >= 2 || fy >= 2 {
        binned = bin(src, fx.max(1), fy.max(1));
        &binned
    } else {
        src
    };
    let (sw, sh) = src.dimensions();
    let sx = sw as f32 / w as f32;
    let sy = sh as f32 / h as f32;
    let data = src.as_raw();
    let stride = sw as usize;
    let mut out = GrayImage::new(w, h);
    let buf: &mut [u8] = &mut out;
    // Precompute horizontal taps.
    let xs: Vec<(usize, usize, f32)> = (0..w)
        .map(|x| {
            let fx = ((x as f32 + 0.5) * sx - 0.5).max(0.0);
            let x0 = (fx as usize).min(sw as usize - 1);
            let x1 = (x0 + 1).min(sw as usize - 1);
            (x0, x1, fx - x0 as f32)
        })
        .collect();
    for y in 0..h as usize {
        let fy = ((y as f32 + 0.5) * sy - 0.5).max(0.0);
        let y0 = (fy as usize).min(sh as usize - 1);
        let y1 = (y0 + 1).min(sh as usize - 1);
        let wy = fy - y0 as f32;
        let r0 = &data[y0 * stride..(y0 + 1) * stride];
        let r1 = &data[y1 * stride..(y1 + 1) * stride];
        let row = &mut buf[y * w as usize..(y + 1) * w as usize];
        for (o, &(x0, x1, wx)) in row.iter_mut().zip(xs.iter()) {
            let a = r0[x0] as f32 * (1.0 - wx) + r0[x1] as f32 * wx;
            let b = r1[x0] as f32 * (1.0 - wx) + r1[x1] as f32 * wx;
            *o = (a * (1.0 - wy) + b * wy + 0.5) as u8;
        }
    }
    out
}

/// Averages `fx` x `fy` blocks (the remainder at the right and bottom is dropped).
fn bin(src: &GrayImage, fx: u32, fy: u32) -> GrayImage {
    let (sw, sh) = src.dimensions();
    let (w, h) = ((sw / fx).max(1), (sh / fy).max(1));
    let data = src.as_raw();
    let stride = sw as usize;
    let n = fx * fy;
    let mut out = GrayImage::new(w, h);
    let buf: &mut [u8] = &mut out;
    let mut acc = vec![0u32; w as usize];
    for y in 0..h as usize {
        acc.iter_mut().for_each(|a| *a = 0);
        for dy in 0..fy as usize {
            let sy = (y * fy as usize + dy).min(sh as usize - 1);
            let row = &data[sy * stride..(sy + 1) * stride];
            for (x, a) in acc.iter_mut().enumerate() {
                let start = x * fx as usize;
                *a += row[start..start + fx as usize]
                    .iter()
                    .map(|&v| v as u32)
                    .sum::<u32>();
            }
        }
        for (o, a) in buf[y * w as usize..(y + 1) * w as usize]
            .iter_mut()
            .zip(acc.iter())
        {
            *o = ((a + n / 2) / n) as u8;
        }
    }
    out
}

/// Copies the rectangle `(x, y, w, h)`, which must lie inside `src`.
pub fn crop_gray(src: &GrayImage, x: u32, y: u32, w: u32, h: u32) -> GrayImage {
    image::imageops::crop_imm(src, x, y, w, h).to_image()
}

/// Mean and variance of the pixel values.
pub fn mean_var(img: &GrayImage) -> (f32, f32) {
    let n = img.as_raw().len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let (mut s, mut s2) = (0f64, 0f64);
    for &v in img.as_raw() {
        let v = v as f64;
        s += v;
        s2 += v * v;
    }
    let m = s / n as f64;
    ((m) as f32, (s2 / n as f64 - m * m).max(0.0) as f32)
}

/// Variance of the 4-neighbour Laplacian over the interior of the image.
pub fn laplacian_var(img: &GrayImage) -> f32 {
    let (w, h) = img.dimensions();
    if w < 3 || h < 3 {
        return 0.0;
    }
    let d = img.as_raw();
    let w = w as usize;
    let (mut s, mut s2, mut n) = (0f64, 0f64, 0f64);
    for y in 1..h as usize - 1 {
        for x in 1..w - 1 {
            let c = d[y * w + x] as f64;
            let l = d[y * w + x - 1] as f64
                + d[y * w + x + 1] as f64
                + d[(y - 1) * w + x] as f64
                + d[(y + 1) * w + x] as f64
                - 4.0 * c;
            s += l;
            s2 += l * l;
            n += 1.0;
        }
    }
    let m = s / n;
    (s2 / n - m * m).max(0.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    #[test]
    fn resize_keeps_flat_images_flat_and_sizes_right() {
        let img = GrayImage::from_pixel(640, 480, Luma([77]));
        for (w, h) in [(320, 240), (100, 75), (1000, 700), (41, 41)] {
            let r = resize_gray(&img, w, h);
            assert_eq!(r.dimensions(), (w, h));
            assert!(r.as_raw().iter().all(|&v| v == 77));
        }
        assert_eq!(resize_gray(&img, 0, 10).dimensions(), (0, 10));
    }

    #[test]
    fn laplacian_is_zero_on_a_ramp() {
        let img = GrayImage::from_fn(20, 20, |x, _| Luma([(x * 10) as u8]));
        assert!(laplacian_var(&img) < 1e-6);
        let (m, v) = mean_var(&GrayImage::from_pixel(4, 4, Luma([9])));
        assert_eq!((m, v), (9.0, 0.0));
    }
}
