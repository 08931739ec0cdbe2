//! Whatever a client sends, a User command body converts to a valid command or to a 4xx
//! listing what is wrong; it never panics.

use proptest::prelude::*;
use users_command::routes::users::RegisterUser;
use users_domain::UserCommand;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,300}",
        "[a-z]{1,20}@[a-z]{1,20}\\.[a-z]{2,5}",
        "\\s{0,5}",
        "[\\u{0}-\\u{1f}\\u{7f}\\u{200b}\\u{202e}\\u{fffd}]{0,20}",
        Just("' OR 1=1; --".to_owned()),
        Just("../../etc/passwd".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_registration_body_is_a_valid_command_or_a_client_error(
        email in text(),
        name in text(),
        credit_limit_cents in prop_oneof![any::<i64>(), -1i64..1_000_000],
    ) {
        let body = RegisterUser { email, name, credit_limit_cents };
        match UserCommand::try_from(body.clone()) {
            Ok(UserCommand::Register { email, name, credit_limit, .. }) => {
                prop_assert!(email.as_str().contains('@'));
                prop_assert!(email.as_str().chars().count() <= 254);
                prop_assert!(!name.as_str().trim().is_empty());
                prop_assert!((1..=200).contains(&name.as_str().chars().count()));
                prop_assert!(credit_limit.cents() >= 0);
            }
            Ok(other) => prop_assert!(false, "{other:?}"),
            Err(problem) => {
                prop_assert!((400..500).contains(&problem.status));
                prop_assert!(!problem.errors.is_empty(), "each invalid field is named");
            }
        }
    }
}
