/* Error code names and messages, generated from TW_ERRNO_MAP. */
#include "twitchd/error.h"

const char *tw_strerror(int err) {
  switch (err) {
  case TW_OK:
    return "success";
#define TW__ERR_MSG(name, val, msg)                                          \
  case TW_##name:                                                            \
    return msg;
    TW_ERRNO_MAP(TW__ERR_MSG)
#undef TW__ERR_MSG
  }
  return "unknown error";
}

const char *tw_err_name(int err) {
  switch (err) {
  case TW_OK:
    return "TW_OK";
#define TW__ERR_NAME(name, val, msg)                                         \
  case TW_##name:                                                            \
    return "TW_" #name;
    TW_ERRNO_MAP(TW__ERR_NAME)
#undef TW__ERR_NAME
  }
  return "TW_EUNKNOWN";
}
