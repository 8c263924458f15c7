/* carteiro's version, and the User-Agent every request to a provider carries.
 *
 * CT_VERSION comes from the project() line of the top CMakeLists.txt, put on the command line
 * of everything that links ct_common, so the version has one source. Transports (the libcurl
 * one, a native HTTP/2 one) send CT_USER_AGENT on every request: providers' support asks for
 * it, and it tells carteiro's traffic apart in their logs. */
#ifndef CT_COMMON_VERSION_H
#define CT_COMMON_VERSION_H

#ifndef CT_VERSION
#error "CT_VERSION is defined by the build (src/common/CMakeLists.txt)"
#endif

#define CT_USER_AGENT "carteiro/" CT_VERSION

#endif
