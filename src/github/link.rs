//! The `Link` response header GitHub paginates with.

use http::HeaderMap;

/// The `rel="next"` URL of a `Link` header, if any.
pub fn next_page(headers: &HeaderMap) -> Option<String> {
    headers.get_all(http::header::LINK).iter().filter_map(|v| v.to_str().ok()).find_map(next_in)
}

fn next_in(value: &str) -> Option<String> {
    value.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim();
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| url.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_next() {
        let cases = [
            (
                r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#,
                Some("https://api.github.com/x?page=2"),
            ),
            (
                r#"<https://api.github.com/x?page=1>; rel="prev", <https://api.github.com/x?page=3>; rel="next""#,
                Some("https://api.github.com/x?page=3"),
            ),
            (r#"<https://api.github.com/x?page=1>; rel="first""#, None),
            ("garbage", None),
        ];
        for (value, expected) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::LINK, value.parse().unwrap());
            assert_eq!(next_page(&headers).as_deref(), expected, "{value}");
        }
        assert_eq!(next_page(&HeaderMap::new()), None);
    }
}
